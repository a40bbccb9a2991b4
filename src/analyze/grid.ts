import { ABS_BUCKETS, NON_FINITE_BUCKET, bucketLow, nearestBoundaryKey } from "./float-bits.ts";

/** A log-spaced grid of |w| values, each snapped to a bucket boundary so counts below it are exact. */
export interface BoundaryGrid {
  /** Nominal log10 of each point: lo, lo + 1/perDecade, ..., hi. */
  log10: number[];
  /** The boundary used, within 0.4% of 10^log10 (a float with 8 significant bits). */
  values: number[];
  keys: number[];
}

export function boundaryGrid(lo: number, hi: number, perDecade: number): BoundaryGrid {
  const log10: number[] = [];
  const values: number[] = [];
  const keys: number[] = [];
  const first = Math.round(lo * perDecade);
  const last = Math.round(hi * perDecade);
  for (let i = first; i <= last; i++) {
    const x = i / perDecade;
    const key = nearestBoundaryKey(10 ** x);
    log10.push(Number(x.toFixed(6)));
    keys.push(key);
    values.push(bucketLow(key));
  }
  return { log10, values, keys };
}

/**
 * Linear bins of width 2^p over [-n 2^p, n 2^p], n <= 100: every edge j 2^p (j <= 100) has at
 * most 8 significant bits, so it is a bucket boundary and the bins are exact. The range covers
 * the `quantile` of |w|; the rest is counted in under/over.
 */
export interface LinearBins {
  width: number;
  perSide: number;
}

export function chooseLinearBins(absHist: Float64Array, total: number, quantile: number): LinearBins {
  let q = 0;
  if (total > 0) {
    const target = quantile * total;
    let cum = 0;
    for (let k = 0; k < NON_FINITE_BUCKET; k++) {
      cum += absHist[k];
      if (cum >= target && absHist[k] > 0) {
        q = bucketLow(Math.min(k + 1, ABS_BUCKETS - 1));
        break;
      }
    }
  }
  if (!(q >= 1e-30)) q = 1;
  const p = Math.ceil(Math.log2(q / 100));
  const width = 2 ** p;
  const perSide = Math.max(1, Math.min(100, Math.ceil(q / width)));
  return { width, perSide };
}
