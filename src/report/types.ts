import type { Result } from "../results/schema.ts";

/** How charts appear in the Markdown. "local" links the SVG files written by writeReportFiles. */
export type ChartMode = "quickchart" | "mermaid" | "none" | "local";

/** States of one comparison against the base. */
export type ComparisonState = "regression" | "improvement" | "no-change" | "inconclusive" | "not-comparable";

/** The report's overall state: a comparison state, or "no-base" when nothing could be compared. */
export type VerdictState = ComparisonState | "no-base";

export interface PerplexityThresholds {
  /** Relative tolerance: 0.01 is 1%. */
  relative: number;
  /** Absolute tolerance in perplexity units. */
  absolute: number;
}

export interface LatencyThresholds {
  /** Smallest relative change of the median that counts: 0.05 is 5%. */
  relative: number;
  /** Confidence of the test and of the bootstrap interval, e.g. 0.99. */
  confidence: number;
  /** Fewer samples than this on either side gives "inconclusive". */
  minSamples: number;
  /** Bootstrap resamples. */
  resamples: number;
  /** Seed of the bootstrap, so the same files give the same report. */
  seed: number;
}

export interface ReachThresholds {
  /** Smallest fall of a budget search's reach (in sparsity: 0.02 is 2 points) that is a regression; unset: each head result's regression.reach. */
  absolute?: number;
}

export interface Thresholds {
  perplexity: PerplexityThresholds;
  latency: LatencyThresholds;
  reach: ReachThresholds;
}

export interface Comparison {
  model: string;
  runId: string;
  /** "reach": a budget search's highest sparsity within the perplexity budget (prune.budget). */
  metric: "perplexity" | "latency" | "reach";
  /** For latency: "cpu b1 s128"; for perplexity: the dataset; for reach: the budget ("+2% perplexity"). */
  key: string;
  state: ComparisonState;
  base: number | null;
  head: number | null;
  /** head / base - 1 (for latency: of the medians; for reach: head - base, in sparsity). */
  change: number | null;
  /** Interval of head/base - 1 at the configured confidence (latency only). */
  interval?: [number, number];
  /** Two-sided p-value of Mann-Whitney U (latency only). */
  pValue?: number;
  /** Why this state, in words. */
  reason: string;
}

export interface Verdict {
  state: VerdictState;
  /** One line, already safe for Markdown. */
  summary: string;
  comparisons: Comparison[];
  counts: Record<ComparisonState, number>;
  /** Models of the head that have no base result. */
  missingBase: string[];
  /** Runs present on one side only. */
  added: { model: string; runId: string }[];
  removed: { model: string; runId: string }[];
  /** Runs of the head that failed, with their error text (unescaped). */
  failures: { model: string; runId: string; error: string }[];
  /** Whether any base result was given at all. */
  hasBase: boolean;
}

/** A chart independent of how it is drawn: Chart.js (quickchart), Mermaid, or Vega-Lite to SVG/PNG. */
export interface ChartSpec {
  /** File-safe and unique within a report. */
  id: string;
  title: string;
  kind: "line" | "scatter" | "step" | "bar";
  x: AxisSpec;
  y: AxisSpec;
  series: SeriesSpec[];
  width: number;
  height: number;
  /** A sentence shown under the chart (plain text; escaped when rendered). */
  caption?: string;
  /** Its data is already in a table beside it, so charts: "none" leaves it out. */
  redundant?: boolean;
}

export interface AxisSpec {
  label: string;
  scale: "linear" | "log";
  /** Values are fractions shown as percentages. */
  percent?: boolean;
  /** For bar charts, and line charts over commits: the category of each x index, in order. */
  categories?: string[];
  /** Whole numbers only (layers): ticks at integers. */
  integer?: boolean;
  /** The axis' range, fitted to the data (fitAxis); the renderer's own choice when absent. */
  domain?: [number, number];
}

export interface SeriesSpec {
  name: string;
  /** href: where the point links to (the dashboard's commits); local SVG only. */
  points: { x: number; y: number; href?: string }[];
  dashed?: boolean;
  /**
   * Palette index (charts/palette.ts), so that one method keeps one color in every chart and
   * its fine-tuned series shares it; the series' own index when absent.
   */
  color?: number;
  /** Scatter charts: draw this series as a line through its points (e.g. a Pareto front). */
  connect?: boolean;
  /** Line charts: draw this series as marks alone, not joined (e.g. the points a budget search found). */
  markers?: boolean;
  /**
   * Line charts: hollow rings in the regression color around these points, out of the legend
   * (the dashboard's regressions, said in the caption); local SVG only.
   */
  rings?: boolean;
}

export interface ReportOptions {
  charts: ChartMode;
  /** Goes into the hidden marker so the GitHub layer can find the comment again. */
  id: string;
  /** Upper bound on the Markdown's length (GitHub comments: 65,536). */
  maxChars: number;
  /** Where the full report lives, named when sections are dropped for size. */
  artifactUrl?: string;
  thresholds: Thresholds;
  /** Heading of the report. */
  title: string;
  /** Relative folder of chart files for charts: "local". */
  assetsPath: string;
  /** charts: "quickchart": short URLs by chart id (shortChartUrls); the rest get the long form. */
  chartUrls?: ReadonlyMap<string, string>;
}

export interface ReportInput {
  results: Result[];
  /** Results of the base (e.g. the PR's merge base); undefined when none were found. */
  base?: Result[];
  options?: Partial<Omit<ReportOptions, "thresholds">> & { thresholds?: PartialThresholds };
}

export interface PartialThresholds {
  perplexity?: Partial<PerplexityThresholds>;
  latency?: Partial<LatencyThresholds>;
  reach?: ReachThresholds;
}

export interface RenderedReport {
  /** Fitted to options.maxChars: what goes into a comment or job summary. */
  markdown: string;
  /** Every section, never dropped: for the artifact. */
  fullMarkdown: string;
  charts: ChartSpec[];
  verdict: Verdict;
  /** Sections folded or dropped to fit. */
  folded: string[];
  dropped: string[];
}
