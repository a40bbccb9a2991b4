/** Order statistics of timing samples. */

export function quantile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function meanStd(values: readonly number[]): { mean: number; std: number } {
  if (!values.length) return { mean: 0, std: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, std: Math.sqrt(variance) };
}

/**
 * Half-width of a distribution-free 95% confidence interval of the median, relative to the
 * median: the order statistics at n/2 -+ 1.96 sqrt(n)/2 (binomial normal approximation).
 */
export function medianRelativePrecision(sorted: readonly number[]): number {
  const n = sorted.length;
  if (n < 5) return Infinity;
  const half = (1.96 * Math.sqrt(n)) / 2;
  const lo = Math.max(0, Math.floor(n / 2 - half));
  const hi = Math.min(n - 1, Math.ceil(n / 2 + half));
  const median = quantile(sorted, 0.5);
  return median > 0 ? (sorted[hi]! - sorted[lo]!) / 2 / median : Infinity;
}
