/**
 * The report stage: Markdown (with charts) and regression verdicts from result files.
 * This is the API the GitHub layer uses: renderReport for the comment and job summary,
 * the marker to find an earlier comment, writeReportFiles for the artifact.
 */
export { renderReport } from "./render.ts";
export { writeReportFiles, writeCharts, type WrittenReport } from "./files.ts";
export { REPORT_MARKER_PREFIX, reportMarker, findReportMarker } from "./marker.ts";
export { compareResults, latencyKey } from "./compare.ts";
export { mergeByModel } from "./merge.ts";
export { readResultFile, parseResult, ResultFileError } from "../results/read.ts";
export { DEFAULT_THRESHOLDS, GITHUB_COMMENT_LIMIT, resolveOptions, resolveThresholds } from "./options.ts";
export { escapeText, escapeHtml } from "./escape.ts";
export { quickchartUrl, chartJsConfig, shortChartUrls, type ShortUrls, type ShortUrlOptions } from "./charts/quickchart.ts";
export { renderSvg, svgToPng, vegaLiteSpec } from "./charts/vega.ts";
export { compareLatency, type LatencyVerdict } from "./stats/latency.ts";
export { comparePerplexity, type PerplexityVerdict } from "./stats/perplexity.ts";
export { mannWhitney } from "./stats/mann-whitney.ts";
export { bootstrapMedianRatio } from "./stats/bootstrap.ts";
export type {
  ChartMode,
  ChartSpec,
  Comparison,
  ComparisonState,
  RenderedReport,
  ReportInput,
  ReportOptions,
  Thresholds,
  Verdict,
  VerdictState,
} from "./types.ts";
