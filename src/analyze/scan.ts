/**
 * The two inner loops of the analysis. Both read fp32 words as integers (a Uint32Array view of
 * the same memory): no float math, no allocation, one typed-array store per weight.
 */

/** Adds each weight's signed 16-bit bucket (sign, exponent, 7 mantissa bits) to `hist`. */
export function histogramBits(bits: Uint32Array, hist: Uint32Array): void {
  const n = bits.length;
  for (let i = 0; i < n; i++) hist[bits[i] >>> 16]++;
}

/**
 * The flagged abs buckets of a second look: thresholds that do not lie on a bucket boundary
 * (cutoffs such as 0.1, and "== 0") and the buckets that hold a median.
 */
export interface Resolver {
  /** Abs bucket -> slot + 1, or 0 when the bucket needs no second look. */
  slotOf: Int32Array;
  /** Per slot: threshold bit patterns T ("|w| < t" is "bits(|w|) < T") and the counter each feeds. */
  thresholds: Uint32Array[];
  counters: Int32Array[];
  /** Per slot: a histogram of the low 16 bits, for selecting a rank inside the bucket. */
  lows: (Uint32Array | null)[];
}

export function emptyResolver(absBuckets: number): Resolver {
  return { slotOf: new Int32Array(absBuckets), thresholds: [], counters: [], lows: [] };
}

/** Counts, for the flagged buckets only, weights below each threshold and their low bits. */
export function resolveBits(bits: Uint32Array, resolver: Resolver, counts: Float64Array): void {
  const { slotOf, thresholds, counters, lows } = resolver;
  const n = bits.length;
  for (let i = 0; i < n; i++) {
    const a = bits[i] & 0x7fffffff;
    const s = slotOf[a >>> 16];
    if (s !== 0) {
      const t = thresholds[s - 1];
      const c = counters[s - 1];
      for (let j = 0; j < t.length; j++) if (a < t[j]) counts[c[j]]++;
      const low = lows[s - 1];
      if (low !== null) low[a & 0xffff]++;
    }
  }
}
