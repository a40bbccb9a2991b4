/**
 * The analysis bins every weight by the top 16 bits of its fp32 word (sign, 8 exponent bits,
 * 7 mantissa bits): one integer shift per weight, no float math, no allocation. A bucket of
 * |w| (15 bits, sign dropped) spans values with the same 8 leading significant bits, so bucket
 * boundaries are exactly the floats with at most 8 significant bits; every threshold that lies
 * on such a boundary is counted exactly from the histogram alone.
 */

export const SIGNED_BUCKETS = 1 << 16;
export const ABS_BUCKETS = 1 << 15;
/** Abs buckets at and above this hold Inf and NaN (exponent all ones). */
export const NON_FINITE_BUCKET = 0x7f80;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** fp32 bit pattern of x rounded to fp32. */
export function floatBits(x: number): number {
  f32[0] = x;
  return u32[0];
}

export function bitsToFloat(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

/** Lower edge of an abs bucket: the float whose bits are `key << 16`. */
export function bucketLow(absKey: number): number {
  return bitsToFloat(absKey << 16);
}

/**
 * For t > 0, the smallest fp32 bit pattern T with value >= t, so that for every fp32 w
 * "|w| < t" is exactly "bits(|w|) < T" (an integer compare).
 */
export function thresholdBits(t: number): number {
  if (!(t > 0)) return 0;
  if (t >= 3.4028234663852886e38) return 0x7f800000;
  let bits = floatBits(t);
  if (bitsToFloat(bits) < t) bits += 1;
  return bits;
}

/**
 * The bucket boundary nearest to x > 0 (a float with 8 significant bits, within 0.4% of x),
 * as an abs bucket key: counts below it come exactly from the histogram.
 */
export function nearestBoundaryKey(x: number): number {
  if (!(x > 0)) return 0;
  const bits = floatBits(x);
  const key = Math.round(bits / 0x10000);
  return Math.min(key, NON_FINITE_BUCKET);
}

/** Lookup table of every IEEE half value as fp32 (256 KiB, built once on first use). */
let halfTable: Float32Array | undefined;

export function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const table = new Float32Array(1 << 16);
  for (let h = 0; h < 1 << 16; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) table[h] = sign * fraction * 2 ** -24;
    else if (exponent === 0x1f) table[h] = fraction ? NaN : sign * Infinity;
    else table[h] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  halfTable = table;
  return table;
}
