import type { PartialThresholds, ReportInput, ReportOptions, Thresholds } from "./types.ts";

/** GitHub refuses comments longer than 65,536 characters; the margin leaves room for the GitHub layer's own lines. */
export const GITHUB_COMMENT_LIMIT = 65_536;

/** The defaults of the config's `regression` section (src/config/schema.ts). */
export const DEFAULT_THRESHOLDS: Thresholds = {
  perplexity: { relative: 0.01, absolute: 1e-3 },
  latency: { relative: 0.05, confidence: 0.99, minSamples: 5, resamples: 2000, seed: 1 },
  reach: {},
};

/** Fields left undefined keep their defaults. */
function defined<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function resolveThresholds(t: PartialThresholds = {}): Thresholds {
  return {
    perplexity: { ...DEFAULT_THRESHOLDS.perplexity, ...defined(t.perplexity) },
    latency: { ...DEFAULT_THRESHOLDS.latency, ...defined(t.latency) },
    reach: { ...DEFAULT_THRESHOLDS.reach, ...defined(t.reach) },
  };
}

export function resolveOptions(options: ReportInput["options"] = {}): ReportOptions {
  return {
    charts: options.charts ?? "quickchart",
    id: options.id ?? "default",
    maxChars: options.maxChars ?? GITHUB_COMMENT_LIMIT - 1_536,
    artifactUrl: options.artifactUrl,
    title: options.title ?? "prunebench report",
    assetsPath: options.assetsPath ?? "charts",
    ...(options.chartUrls ? { chartUrls: options.chartUrls } : {}),
    thresholds: resolveThresholds(options.thresholds),
  };
}
