import type { LatencyThresholds } from "../types.ts";
import { mannWhitney } from "./mann-whitney.ts";
import { bootstrapMedianRatio } from "./bootstrap.ts";
import { median } from "./describe.ts";

export interface LatencyVerdict {
  state: "regression" | "improvement" | "no-change" | "inconclusive";
  /** median(head) / median(base) - 1. */
  change: number;
  interval: [number, number];
  pValue: number;
  reason: string;
}

/**
 * Compares two sets of raw latency samples. A change is called only when it is both
 * significant (Mann-Whitney U below 1 - confidence, and the bootstrap interval of the ratio
 * of medians excluding 1) and larger than the threshold. A change that is not significant
 * is "no change" only when the interval lies inside the threshold band, i.e. the data rule
 * out a change of that size; otherwise the samples are too few or too noisy to say.
 */
export function compareLatency(base: ArrayLike<number>, head: ArrayLike<number>, t: LatencyThresholds): LatencyVerdict {
  if (base.length < t.minSamples || head.length < t.minSamples) {
    return {
      state: "inconclusive",
      change: Number.NaN,
      interval: [Number.NaN, Number.NaN],
      pValue: Number.NaN,
      reason: `too few samples (${base.length} base, ${head.length} head; at least ${t.minSamples} each)`,
    };
  }
  const { pValue } = mannWhitney(head, base);
  const { ratio, lo, hi } = bootstrapMedianRatio(base, head, t);
  const change = ratio - 1;
  const interval: [number, number] = [lo - 1, hi - 1];
  const up = 1 + t.relative;
  const down = 1 / up;
  const alpha = 1 - t.confidence;
  const significant = pValue < alpha && (lo > 1 || hi < 1);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  if (significant && ratio > up) {
    return { state: "regression", change, interval, pValue, reason: `median ${pct(change)} slower, significant and above the ${pct(t.relative)} threshold` };
  }
  if (significant && ratio < down) {
    return { state: "improvement", change, interval, pValue, reason: `median ${pct(-change)} faster, significant and above the ${pct(t.relative)} threshold` };
  }
  if (significant) {
    return { state: "no-change", change, interval, pValue, reason: `significant but within the ${pct(t.relative)} threshold` };
  }
  if (lo >= down && hi <= up) {
    return { state: "no-change", change, interval, pValue, reason: `not significant; interval within ±${pct(t.relative)}` };
  }
  return { state: "inconclusive", change, interval, pValue, reason: `too noisy: not significant, but the interval reaches past ±${pct(t.relative)}` };
}

/**
 * Whether compareLatency could call a regression or an improvement: enough samples, Mann-Whitney
 * significant, and the ratio of medians beyond the threshold. Each is necessary for either call
 * and costs a sort, where compareLatency's bootstrap costs thousands: what lets the dashboard
 * compare every pair of consecutive commits.
 */
export function latencyMayChange(base: ArrayLike<number>, head: ArrayLike<number>, t: LatencyThresholds): boolean {
  if (base.length < t.minSamples || head.length < t.minSamples) return false;
  const ratio = median(head) / median(base);
  const up = 1 + t.relative;
  if (!(ratio > up || ratio < 1 / up)) return false;
  return mannWhitney(head, base).pValue < 1 - t.confidence;
}
