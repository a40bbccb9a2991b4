import type { Section } from "./section.ts";
import { details, heading } from "./markdown.ts";
import { escapeText } from "./escape.ts";

export type SectionState = "full" | "folded" | "dropped";

export interface FitResult {
  markdown: string;
  folded: string[];
  dropped: string[];
}

/** Sections at or past this priority are folded when a report is long but fits. */
const FOLD_WHEN_LONG = 60;

function renderSection(s: Section, state: SectionState): string {
  if (s.untitled) return s.body;
  const title = heading(s.level, escapeText(s.title, { max: 100 }));
  if (state === "full") return `${title}\n\n${s.body}`;
  return state === "folded" ? `${title}\n\n${details(`Show ${s.title.toLowerCase()}`, s.body)}` : `${title}\n\n${s.body}`;
}

/** Dropped sections leave one line at the end that names them and points at the full report. */
export function assemble(head: string, sections: Section[], states: Map<string, SectionState>, pointer: string): string {
  const kept = sections.filter((s) => states.get(s.id) !== "dropped");
  const dropped = sections.filter((s) => states.get(s.id) === "dropped").map((s) => escapeText(s.title, { max: 100 }));
  const note = dropped.length ? `---\n\n_Left out to stay within GitHub's comment size: ${dropped.join(", ")}; ${pointer}._` : "";
  return `${[head, ...kept.map((s) => renderSection(s, states.get(s.id) ?? "full"))].concat(note ? [note] : []).join("\n\n")}\n`;
}

/**
 * Keeps the report under `maxChars`. A long report that fits folds its least important
 * sections so the comment stays readable; one that does not fit folds every secondary
 * section and then drops them, least important (then last) first, each leaving a line
 * that points at the full report.
 */
export function fitSections(head: string, sections: Section[], options: { maxChars: number; artifactUrl?: string }): FitResult {
  const pointer = options.artifactUrl ? `see the [full report](${encodeURI(options.artifactUrl).replace(/[()]/g, encodeURIComponent)})` : "see the full report in the workflow's artifacts";
  const states = new Map<string, SectionState>(sections.map((s) => [s.id, "full"]));
  let md = assemble(head, sections, states, pointer);
  if (md.length <= options.maxChars / 2) return { markdown: md, folded: [], dropped: [] };
  const order = sections
    .map((s, i) => ({ s, i }))
    .filter(({ s }) => !s.essential)
    .sort((a, b) => b.s.priority - a.s.priority || b.i - a.i)
    .map(({ s }) => s);
  const fits = md.length <= options.maxChars;
  for (const s of order) if (!fits || s.priority >= FOLD_WHEN_LONG) states.set(s.id, "folded");
  md = assemble(head, sections, states, pointer);
  for (const s of order) {
    if (md.length <= options.maxChars) break;
    states.set(s.id, "dropped");
    md = assemble(head, sections, states, pointer);
  }
  const ids = (state: SectionState) => sections.filter((s) => states.get(s.id) === state).map((s) => s.id);
  return { markdown: md, folded: ids("folded"), dropped: ids("dropped") };
}
