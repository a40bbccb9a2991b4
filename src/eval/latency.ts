/**
 * Latency of a model's forward pass (the model as deployed, logits and all) per batch x
 * seq_len: warm-up runs, then timed runs until the median is known to a target precision or
 * the time budget is spent. Raw samples are kept for the comparison statistics.
 */
import { LATENCY_DEFAULTS } from "../config/schema.ts";
import type * as ort from "onnxruntime-node";
import type { Family } from "../models/types.ts";
import type { Latency } from "../results/schema.ts";
import { medianRelativePrecision, meanStd, quantile } from "./stats.ts";
import type { Provider } from "./session.ts";
import { feedBuilder } from "./feeds.ts";

export interface LatencyOptions {
  session: ort.InferenceSession;
  family: Family;
  provider: Provider;
  batch: number;
  seqLen: number;
  /** Vocabulary to draw random ids from (default 1000, below every real vocabulary). */
  vocab?: number;
  threads?: number;
  warmup?: number;
  minRuns?: number;
  maxRuns?: number;
  /** Stop timing after this many ms of timed runs (default 10 s). */
  budgetMs?: number;
  /** Stop when the 95% CI half-width of the median is below this share of it (default 0.01). */
  targetPrecision?: number;
  /** Session creation time, measured by whoever created it; reported alongside. */
  sessionMs: number;
  now?: () => number;
  shouldStop?: () => boolean;
}

export async function measureLatency(options: LatencyOptions): Promise<Latency & { partial: boolean }> {
  const now = options.now ?? (() => performance.now());
  const { batch: B, seqLen: S } = options;
  const vocab = options.vocab ?? 1000;
  const ids = Int32Array.from({ length: S }, (_, i) => (i * 7919 + 13) % vocab);
  const example = { inputIds: ids, labels: ids, encoderIds: options.family === "encoder-decoder" ? ids : undefined };
  const feeds = feedBuilder(options.session, options.family, "labels")(Array.from({ length: B }, () => example));
  delete feeds.labels;
  const outputs = options.session.outputNames;
  const run = async () => {
    const out = await options.session.run(feeds, outputs);
    for (const t of Object.values(out)) t.dispose();
  };
  const warmup = options.warmup ?? LATENCY_DEFAULTS.warmup;
  for (let i = 0; i < warmup; i++) await run();
  const budget = options.budgetMs ?? LATENCY_DEFAULTS.budget_ms;
  const target = options.targetPrecision ?? 0.01;
  const minRuns = options.minRuns ?? 10;
  const maxRuns = options.maxRuns ?? 1000;
  const samples: number[] = [];
  const sorted: number[] = [];
  const start = now();
  let partial = false;
  while (samples.length < maxRuns) {
    if (options.shouldStop?.()) {
      partial = true;
      break;
    }
    const t0 = now();
    await run();
    const ms = now() - t0;
    samples.push(ms);
    sorted.splice(sortedIndex(sorted, ms), 0, ms);
    if (samples.length >= minRuns && (medianRelativePrecision(sorted) <= target || now() - start >= budget)) break;
  }
  const { mean, std } = meanStd(samples);
  const p50 = quantile(sorted, 0.5);
  return {
    provider: options.provider,
    batch: B,
    seqLen: S,
    ...(options.threads ? { threads: options.threads } : {}),
    samplesMs: samples,
    p50,
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    mean,
    std,
    tokensPerSecond: p50 > 0 ? (B * S * 1000) / p50 : 0,
    sessionMs: options.sessionMs,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    warmup,
    partial,
  };
}

function sortedIndex(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
