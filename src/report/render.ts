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
import { thinRuns } from "./thin.ts";
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
  let current = sections;
  for (let rows = 100; fitted.markdown.length > options.maxChars && rows >= 1; rows = Math.floor(rows / 2)) {
    current = sections.map((s) => (s.id === "comparisons" ? comparisonsSection(verdict, rows) : s));
    fitted = fitSections(head, current, options);
  }
  // Still a model left out: rather than lose a model's numbers, its section degrades row by row
  // (dense, each method's best runs, the worst). Only a limit too small for even that drops it.
  for (let perMethod = 8; fitted.dropped.some((id) => id.startsWith("model-")) && perMethod >= 1; perMethod = Math.floor(perMethod / 2)) {
    const thinCharts = new ChartCollector(options);
    const dropped = fitted.dropped;
    const shorter = current.map((s) => {
      const index = s.id.startsWith("model-") ? Number(s.id.slice("model-".length)) : -1;
      if (index < 0 || !dropped.includes(s.id)) return s;
      const thin = thinRuns(results[index], perMethod);
      const section = modelSection(thin.result, index, thinCharts);
      const note = thin.kept < thin.total ? `_${thin.kept} of ${thin.total} runs shown to fit a comment: dense, the ${perMethod === 1 ? "best run" : `${perMethod} best runs`} of each method and the worst; every run is in the full report._` : "";
      return { ...section, body: note ? `${note}\n\n${section.body}` : section.body };
    });
    current = shorter;
    fitted = fitSections(head, current, options);
  }
  const fullStates = new Map(sections.map((s) => [s.id, "full" as const]));
  return {
    markdown: fitted.markdown,
    fullMarkdown: assemble(head, sections, fullStates, ""),
    // charts: none means tables only, in the Markdown and on disk: no chart files either.
    charts: options.charts === "none" ? [] : charts.specs,
    verdict,
    folded: fitted.folded,
    dropped: fitted.dropped,
  };
}
