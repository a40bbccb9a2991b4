import { ABS_BUCKETS, NON_FINITE_BUCKET, bucketLow } from "./float-bits.ts";

let mids: Float64Array | undefined;

/** Midpoint of every finite abs bucket. */
function midpoints(): Float64Array {
  if (mids) return mids;
  const m = new Float64Array(ABS_BUCKETS);
  for (let k = 0; k < NON_FINITE_BUCKET; k++) m[k] = (bucketLow(k) + bucketLow(k + 1)) / 2;
  mids = m;
  return m;
}

export interface Moments {
  count: number;
  mean: number;
  std: number;
  nonFinite: number;
}

/**
 * Mean and standard deviation from a tensor's signed bucket histogram, each weight taken at its
 * bucket's midpoint. A bucket is 2^-7 of its value wide, so for a matrix whose weights spread
 * over many buckets (any zero-centred weight matrix) sigma is off by far less than 1e-4
 * relative; tensors that sit in a few buckets (norm scales near 1) are measured exactly
 * instead (see exactMoments).
 */
export function histogramMoments(hist: Uint32Array): Moments {
  const m = midpoints();
  let count = 0;
  let sum = 0;
  let sumSq = 0;
  let nonFinite = 0;
  for (let k = 0; k < ABS_BUCKETS; k++) {
    const pos = hist[k];
    const neg = hist[k + ABS_BUCKETS];
    if (pos === 0 && neg === 0) continue;
    if (k >= NON_FINITE_BUCKET) {
      nonFinite += pos + neg;
      continue;
    }
    count += pos + neg;
    sum += (pos - neg) * m[k];
    sumSq += (pos + neg) * m[k] * m[k];
  }
  return finish(count, sum, sumSq, nonFinite);
}

/** Running exact sums of a tensor read in slices. */
export interface Sums {
  count: number;
  sum: number;
  sumSq: number;
  nonFinite: number;
}

export function emptySums(): Sums {
  return { count: 0, sum: 0, sumSq: 0, nonFinite: 0 };
}

export function addSums(data: Float32Array, into: Sums): Sums {
  let sum = 0;
  let sumSq = 0;
  let count = 0;
  let nonFinite = 0;
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    if (!Number.isFinite(x)) {
      nonFinite++;
      continue;
    }
    count++;
    sum += x;
    sumSq += x * x;
  }
  into.count += count;
  into.sum += sum;
  into.sumSq += sumSq;
  into.nonFinite += nonFinite;
  return into;
}

export function sumsMoments(s: Sums): Moments {
  return finish(s.count, s.sum, s.sumSq, s.nonFinite);
}

export function exactMoments(data: Float32Array): Moments {
  return sumsMoments(addSums(data, emptySums()));
}

function finish(count: number, sum: number, sumSq: number, nonFinite: number): Moments {
  if (count === 0) return { count, mean: 0, std: 0, nonFinite };
  const mean = sum / count;
  const variance = Math.max(0, sumSq / count - mean * mean);
  // Cancellation leaves a tiny positive variance for a constant tensor; call that zero.
  const std = variance <= 1e-12 * (sumSq / count) ? 0 : Math.sqrt(variance);
  return { count, mean, std, nonFinite };
}
