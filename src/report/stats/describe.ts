/** Median of a sorted array. */
export function sortedMedian(sorted: ArrayLike<number>): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const mid = n >> 1;
  return n % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function median(values: ArrayLike<number>): number {
  return sortedMedian(Float64Array.from(values as ArrayLike<number>).sort());
}

/** Linear-interpolated quantile of a sorted array, q in [0, 1]. */
export function sortedQuantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const pos = Math.min(Math.max(q, 0), 1) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Median absolute deviation over the median: a noise measure robust to outliers. */
export function relativeMad(values: ArrayLike<number>): number {
  const m = median(values);
  const dev = Float64Array.from(values as ArrayLike<number>, (v) => Math.abs(v - m));
  return m > 0 ? median(dev) / m : Number.NaN;
}
