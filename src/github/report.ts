import type { Result } from "../results/schema.ts";
import { escapeText, renderReport, shortChartUrls, writeReportFiles, type RenderedReport, type ShortUrlOptions, type VerdictState } from "../report/index.ts";
import type { PartialThresholds } from "../report/types.ts";

/**
 * The Action's use of the report stage (src/report): one report for the comment, the job
 * summary and the check run, plus the artifact files. The stage knows nothing of GitHub;
 * what only the Action knows (why there is no baseline) is added here.
 */
export type Verdict = VerdictState;

export interface Thresholds {
  /** Relative perplexity increase that counts as a regression, e.g. 0.01. */
  perplexity?: number;
  /** Relative median latency increase that counts as a regression, e.g. 0.05. */
  latency?: number;
  /** Fall of a budget search's reach, in sparsity, that counts as a regression, e.g. 0.02. */
  reach?: number;
}

export interface PrReportInput {
  results: Result[];
  /** Results of the merge base on the same runner fingerprint; undefined when none exist. */
  base?: Result[];
  /** Why there is no base, shown under the verdict. */
  baseNote?: string;
  thresholds?: Thresholds;
  /** The run page, where the full report artifact is. */
  artifactUrl?: string;
  /** Goes into the hidden marker: one comment per id. */
  id: string;
  /** Charts in the comment: quickchart.io image URLs, Mermaid, or none (tables only). */
  charts?: "quickchart" | "mermaid" | "none";
  /** Short quickchart URLs by chart id (renderPrReportWithShortUrls); the rest get the long form. */
  chartUrls?: ReadonlyMap<string, string>;
}

export interface PrReport {
  markdown: string;
  verdict: Verdict;
  /** One line for the check run and the log, safe for Markdown. */
  title: string;
  stage: RenderedReport;
}

/** The Action's thresholds input as the report stage takes them (the dashboard's too). */
export function reportThresholds(t: Thresholds = {}): PartialThresholds {
  return { perplexity: { relative: t.perplexity }, latency: { relative: t.latency }, reach: { absolute: t.reach } };
}

export function renderPrReport(input: PrReportInput): PrReport {
  const stage = renderReport({
    results: input.results,
    base: input.base,
    options: {
      id: input.id,
      charts: input.charts,
      chartUrls: input.chartUrls,
      artifactUrl: input.artifactUrl,
      thresholds: reportThresholds(input.thresholds),
    },
  });
  let markdown = stage.markdown;
  if (!input.base && input.baseNote) {
    // Under the report's title line; the stage leaves 1,536 characters of room below GitHub's limit.
    const note = `\n> **No baseline:** ${escapeText(input.baseNote, { max: 600 })}.\n`;
    const lines = markdown.split("\n");
    const title = lines.findIndex((l) => l.startsWith("## "));
    lines.splice(title + 1, 0, note);
    markdown = lines.join("\n");
  }
  return { markdown, verdict: stage.verdict.state, title: plainTitle(stage.verdict.summary), stage };
}

/**
 * The report with quickchart's short URLs where the runner reaches quickchart (GitHub drops or
 * fails images with very long URLs, and long ones fill the comment); without network, or
 * where quickchart refuses, the long URLs stay and `note` says why.
 */
export async function renderPrReportWithShortUrls(input: PrReportInput, options: ShortUrlOptions & { enabled?: boolean } = {}): Promise<PrReport & { note?: string }> {
  const first = renderPrReport(input);
  if (options.enabled === false || (input.charts ?? "quickchart") !== "quickchart" || !first.stage.charts.length) return first;
  const short = await shortChartUrls(first.stage.charts, options);
  const note = short.failed ? `${short.failed} of ${first.stage.charts.length} charts keep their long quickchart URL (${short.error ?? "no short URL"})` : undefined;
  if (!short.urls.size) return { ...first, ...(note ? { note } : {}) };
  return { ...renderPrReport({ ...input, chartUrls: short.urls }), ...(note ? { note } : {}) };
}

/**
 * The artifact: report.md, report-full.md, verdict.json and the charts as SVG. PNG copies
 * (resvg) double the time on a runner for files the comment does not use; the CLI makes them.
 */
export async function writePrReportFiles(dir: string, report: PrReport): Promise<string> {
  const written = await writeReportFiles(dir, { ...report.stage, markdown: report.markdown }, { png: false });
  return written.markdown;
}

function plainTitle(summary: string): string {
  return `prunebench: ${summary.replace(/\*\*/g, "").replace(/\s+/g, " ").trim()}`.slice(0, 250);
}

/**
 * The comment posted when GitHub refuses the full one for its size (a server with a lower
 * limit than github.com's, or a report the stage could not fit): the marker, the verdict, the
 * regressions, and where the full report is. A few KB whatever the number of models.
 */
export function renderShortReport(report: PrReport, links: { runUrl: string }, marker: string): string {
  const regressions = report.stage.verdict.comparisons.filter((c) => c.state === "regression");
  const shown = regressions.slice(0, 20).map((c) => {
    const change = c.change === null ? "" : ` (${c.change > 0 ? "+" : ""}${(c.change * 100).toFixed(1)}%)`;
    return `- ${escapeText(c.model, { max: 80 })} ${escapeText(c.runId, { max: 60 })} ${c.metric} ${escapeText(c.key, { max: 60 })}: ${c.base ?? "?"} → ${c.head ?? "?"}${change}`;
  });
  if (regressions.length > shown.length) shown.push(`- and ${regressions.length - shown.length} more`);
  return [
    marker,
    "## prunebench",
    "",
    `**Verdict:** ${report.stage.verdict.summary}`,
    "",
    ...(shown.length ? ["**Regressions:**", ...shown, ""] : []),
    `The full report was too long for a comment: it is in the [job summary](${links.runUrl}) and in the report artifact of [this run](${links.runUrl}#artifacts).`,
    "",
  ].join("\n");
}
