import type { Curve, Histogram, WeightDistribution } from "../results/analysis.ts";
import { ABS_BUCKETS, NON_FINITE_BUCKET, SIGNED_BUCKETS, bucketLow } from "./float-bits.ts";
import type { BoundaryGrid, LinearBins } from "./grid.ts";

/**
 * Running totals of one group of weights (the model, a part, a layer, the prunable ones):
 * a signed 16-bit bucket histogram plus the few counts the histogram cannot give on its own.
 * Its size is fixed (about 0.5 MiB), whatever the size of the group.
 */
export class GroupStats {
  readonly hist = new Float64Array(SIGNED_BUCKETS);
  /** Weights below each cut threshold inside that threshold's own bucket (from the second look). */
  readonly cutInBucket: Float64Array;
  /** Weights with |w| < c * sigma(own matrix), per point c of the scale-free grid. */
  readonly scaledBelow: Float64Array;
  params = 0;

  constructor(cuts: number, scaledPoints: number) {
    this.cutInBucket = new Float64Array(cuts);
    this.scaledBelow = new Float64Array(scaledPoints);
  }
}

/** |w| histogram and its running sum: cumulative[k] = weights in abs buckets below k. */
export function absCumulative(hist: Float64Array): Float64Array {
  const cumulative = new Float64Array(ABS_BUCKETS + 1);
  for (let k = 0; k < ABS_BUCKETS; k++) cumulative[k + 1] = cumulative[k] + hist[k] + hist[k + ABS_BUCKETS];
  return cumulative;
}

/** Thresholds of exact counts: index 0 is "== 0" (bits < 1), then the table's cutoffs. */
export interface Cuts {
  values: number[];
  bits: number[];
}

export interface Layout {
  cuts: Cuts;
  raw: BoundaryGrid;
  /** Nominal points c of the scale-free curve (thresholds c * sigma are snapped per matrix). */
  scaled: number[];
  linear: LinearBins;
}

export interface GroupSummary {
  distribution: WeightDistribution;
  /** Fraction below each table cutoff (cuts 1..). */
  belowCutoff: number[];
  cumulative: Float64Array;
}

export function summarize(group: GroupStats, layout: Layout): GroupSummary {
  const cumulative = absCumulative(group.hist);
  const n = group.params;
  const frac = (count: number) => (n > 0 ? clamp01(count / n) : 0);
  const below = (cut: number) => cumulative[layout.cuts.bits[cut] >>> 16] + group.cutInBucket[cut];
  const zeros = below(0);
  const belowCutoff = layout.cuts.bits.slice(1).map((_, i) => frac(below(i + 1)));

  const keys = layout.raw.keys;
  const log10: Histogram = {
    lo: layout.raw.log10[0],
    hi: layout.raw.log10[layout.raw.log10.length - 1],
    counts: keys.slice(1).map((key, i) => cumulative[key] - cumulative[keys[i]]),
    under: cumulative[keys[0]] - zeros,
    over: cumulative[NON_FINITE_BUCKET] - cumulative[keys[keys.length - 1]],
    edges: layout.raw.values,
  };
  const raw: Curve = { cutoffs: layout.raw.values, fraction: keys.map((key) => frac(cumulative[key])) };
  const scaleFree: Curve = { cutoffs: layout.scaled, fraction: Array.from(group.scaledBelow, frac) };
  return {
    distribution: { params: n, linear: linearHistogram(group.hist, layout.linear), log10, zeros, raw, scaleFree },
    belowCutoff,
    cumulative,
  };
}

/**
 * Bins are symmetric in |w|: [j d, (j+1) d) on the positive side and (-(j+1) d, -j d] on the
 * negative side, so the bins' edges are bucket boundaries on both sides and counts are exact.
 */
export function linearHistogram(hist: Float64Array, bins: LinearBins): Histogram {
  const { width, perSide } = bins;
  const counts = new Array<number>(2 * perSide).fill(0);
  let under = 0;
  let over = 0;
  for (let key = 0; key < SIGNED_BUCKETS; key++) {
    const c = hist[key];
    if (c === 0) continue;
    const abs = key & 0x7fff;
    if (abs >= NON_FINITE_BUCKET) continue;
    const j = Math.floor(bucketLow(abs) / width);
    const negative = key >= ABS_BUCKETS;
    if (j >= perSide) {
      if (negative) under += c;
      else over += c;
    } else {
      counts[negative ? perSide - 1 - j : perSide + j] += c;
    }
  }
  return { lo: -perSide * width, hi: perSide * width, counts, under, over };
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
