import type { ReportInput, RenderedReport } from "./types.ts";
import type { Section } from "./section.ts";
import { ChartCollector } from "./section.ts";
import { resolveOptions } from "./options.ts";
import { mergeByModel } from "./merge.ts";
import { compareResults } from "./compare.ts";
import { reportMarker } from "./marker.ts";
import { escapeText } from "./escape.ts";
import { assemble, fitSections } from "./fit.ts";
import { verdictSection } from "./sections/verdict.ts";
import { budgetSection } from "./sections/budget.ts";
import { comparisonsSection } from "./sections/comparisons.ts";
import { modelSection } from "./sections/model.ts";
import { perLayerSection, smallWeightsSection, weightsSection } from "./sections/weights.ts";
import { detailsSection, paretoSection, sensitivitySection } from "./sections/extra.ts";

/**
 * The report of a set of result files, compared with the base's when given. Pure: the
 * same inputs give the same Markdown, byte for byte (the bootstrap is seeded), so it can
 * be diffed against golden files and updated in place without churn.
 */
export function renderReport(input: ReportInput): RenderedReport {
  const options = resolveOptions(input.options);
  const results = mergeByModel(input.results);
  const base = input.base ? mergeByModel(input.base) : undefined;
  const verdict = compareResults(results, base, options.thresholds);
  const charts = new ChartCollector(options);
  // Sections in the order docs/architecture.md gives; priorities say what goes first when space runs out.
  const sections = [
    verdictSection(verdict, options),
    budgetSection(results, verdict, charts),
    comparisonsSection(verdict),
    ...results.map((r, i) => modelSection(r, i, charts)),
    weightsSection(results, charts),
    smallWeightsSection(results, charts),
    perLayerSection(results, charts),
    sensitivitySection(results, charts),
    paretoSection(results, charts),
    detailsSection(results),
  ].filter((s): s is Section => s !== null);
  const head = `${reportMarker(options.id)}\n## ${escapeText(options.title, { max: 100 })}`;
  let fitted = fitSections(head, sections, options);
  // Dropping sections was not enough: shorten the comparisons table itself, keeping its worst rows.
  for (let rows = 100; fitted.markdown.length > options.maxChars && rows >= 1; rows = Math.floor(rows / 2)) {
    const shorter = sections.map((s) => (s.id === "comparisons" ? comparisonsSection(verdict, rows) : s));
    fitted = fitSections(head, shorter, options);
  }
  const fullStates = new Map(sections.map((s) => [s.id, "full" as const]));
  return {
    markdown: fitted.markdown,
    fullMarkdown: assemble(head, sections, fullStates, ""),
    charts: charts.specs,
    verdict,
    folded: fitted.folded,
    dropped: fitted.dropped,
  };
}
