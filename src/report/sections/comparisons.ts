import type { Comparison, Verdict } from "../types.ts";
import type { Section } from "../section.ts";
import { escapeText } from "../escape.ts";
import { fmtChange, fmtMs, fmtNumber, fmtPercent } from "../format.ts";
import { STATE_ICON, STATE_LABEL } from "../compare.ts";
import { details, table } from "../markdown.ts";
import { join } from "../section.ts";

const ORDER = ["regression", "improvement", "inconclusive", "not-comparable", "no-change"] as const;

// Non-breaking spaces keep "p50 cpu b1 s128", "41.4 ms" and intervals on one line in narrow tables.
const nb = (s: string) => s.replace(/ /g, "\u00a0");

function interval(c: Comparison): string {
  return c.interval ? nb(`${fmtChange(c.interval[0])} … ${fmtChange(c.interval[1])}`) : "";
}

function measure(c: Comparison): string {
  if (c.metric === "reach") return nb(`reach ${escapeText(c.key, { max: 60 })}`);
  return c.metric === "latency" ? nb(`p50 ${escapeText(c.key, { max: 60 })}`) : "perplexity";
}

/** Reach changes are differences of sparsities: "−8.0 pts". */
function change(c: Comparison): string {
  if (c.metric !== "reach" || c.change === null) return fmtChange(c.change);
  return fmtChange(c.change).replace("%", " pts");
}

export function comparisonTable(rows: Comparison[]): string {
  const value = (c: Comparison, x: number | null) => (c.metric === "latency" ? nb(fmtMs(x)) : c.metric === "reach" ? fmtPercent(x) : fmtNumber(x));
  return table(
    ["verdict", "model", "run", "measure", "base", "head", "change", "interval", "p"],
    rows.map((c) => [
      nb(`${STATE_ICON[c.state]} ${STATE_LABEL[c.state]}`),
      escapeText(c.model, { max: 60 }),
      escapeText(c.runId, { max: 60 }),
      measure(c),
      value(c, c.base),
      value(c, c.head),
      change(c),
      interval(c),
      c.pValue === undefined ? "" : c.pValue < 1e-4 ? "<0.0001" : fmtNumber(c.pValue, 2),
    ]),
    ["l", "l", "l", "l", "r", "r", "r", "r", "r"],
  );
}

/** Unchanged rows need fewer columns: what was compared and how little it moved. */
function unchangedTable(rows: Comparison[]): string {
  return table(
    ["model", "run", "measure", "change", "interval"],
    rows.map((c) => [
      escapeText(c.model, { max: 60 }),
      escapeText(c.runId, { max: 60 }),
      measure(c),
      change(c),
      interval(c),
    ]),
    ["l", "l", "l", "r", "r"],
  );
}

function sorted(comparisons: Comparison[]): Comparison[] {
  return [...comparisons].sort((a, b) => ORDER.indexOf(a.state) - ORDER.indexOf(b.state));
}

function list(items: { model: string; runId: string }[], max = 20): string {
  const shown = items.slice(0, max).map((i) => `${escapeText(i.model, { max: 60 })} ${escapeText(i.runId, { max: 60 })}`);
  return shown.join(", ") + (items.length > max ? `, and ${items.length - max} more` : "");
}

/** Not comparable comparisons come in groups (a whole model on another runner): one line per model and reason. */
function notComparable(rows: Comparison[], maxRows: number): string {
  const groups = new Map<string, Comparison[]>();
  for (const c of rows) {
    const key = `${c.model}\u0000${c.metric}\u0000${c.reason}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(c);
  }
  const lines = [...groups.values()].map(
    (g) => `- ${STATE_ICON["not-comparable"]} ${escapeText(g[0].model, { max: 60 })}: ${g.length} ${g[0].metric} comparison${g.length === 1 ? "" : "s"} not made, ${escapeText(g[0].reason, { max: 200 })}`,
  );
  return join(`**Not comparable** (never compared across runners or protocols):\n\n${lines.join("\n")}`, details(`${rows.length} not comparable`, comparisonTable(rows.slice(0, maxRows))));
}

/** Changes against the base: what moved first, the unchanged folded, never silently compared. */
export function comparisonsSection(verdict: Verdict, maxRows = 150): Section {
  let body: string;
  if (!verdict.hasBase) {
    body = "> [!NOTE]\n> No base results were found, so nothing is compared. The numbers below are this run's alone.";
  } else {
    const notable = sorted(verdict.comparisons.filter((c) => c.state !== "no-change" && c.state !== "not-comparable"));
    const apart = verdict.comparisons.filter((c) => c.state === "not-comparable");
    const unchanged = verdict.comparisons.filter((c) => c.state === "no-change");
    const shown = notable.slice(0, maxRows);
    const more = notable.length - shown.length;
    const missing = verdict.missingBase.slice(0, 10).map((m) => escapeText(m, { max: 60 }));
    body = join(
      shown.length ? comparisonTable(shown) : verdict.comparisons.length ? "Nothing moved beyond the thresholds." : "",
      more > 0 && `… and ${more} more in the full report.`,
      apart.length && notComparable(apart, maxRows),
      unchanged.length &&
        details(
          `${unchanged.length} unchanged`,
          join(unchangedTable(unchanged.slice(0, maxRows)), unchanged.length > maxRows && `… and ${unchanged.length - maxRows} more in the full report.`),
        ),
      missing.length && `No base result for: ${missing.join(", ")}${verdict.missingBase.length > 10 ? `, and ${verdict.missingBase.length - 10} more` : ""}.`,
      verdict.added.length && `New runs (not in the base): ${list(verdict.added)}.`,
      verdict.removed.length && `Runs missing from this result (in the base only): ${list(verdict.removed)}.`,
    );
  }
  if (verdict.failures.length) {
    const rows = verdict.failures.slice(0, 30).map((f) => [escapeText(f.model, { max: 60 }), escapeText(f.runId, { max: 60 }), escapeText(f.error, { max: 300 })]);
    body = join(body, `**Failed runs**\n\n${table(["model", "run", "error"], rows)}`);
  }
  // Never dropped: render.ts shortens its tables instead when space runs out.
  return { id: "comparisons", title: "Against base", level: 3, priority: 5, essential: true, body };
}
