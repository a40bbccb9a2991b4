import { Bitmask } from "./bitmask.ts";
import { PruneError } from "./errors.ts";

/**
 * Selection of the k smallest keys over many arrays without sorting or copying them: a
 * two-pass radix select over 32-bit keys (top 16 bits, then low 16 bits among the keys in the
 * chosen bucket), then one pass that writes masks. For magnitude the keys are the fp32 bits
 * with the sign cleared: for non-negative IEEE floats the bit patterns order as the values do,
 * so |w| never has to be computed or stored. Ties at the threshold are pruned in order
 * (source by source, then by index), which is what a stable sort by (key, position) gives.
 */
export interface KeySource {
  name: string;
  keys: Uint32Array;
}

export interface Selection {
  /** Keys below this are pruned. */
  threshold: number;
  /** How many keys equal to the threshold are pruned, first ones first. */
  ties: number;
  /** Keys strictly below the threshold. */
  below: number;
  k: number;
}

const SIGN_OFF = 0x7fffffff;
const F32_INF = 0x7f800000;

/**
 * `abs`: keys are fp32 bit patterns compared by magnitude; a NaN is refused with the tensor
 * and index that hold it.
 */
export function selectSmallest(sources: readonly KeySource[], k: number, options: { abs: boolean }): Selection {
  const total = sources.reduce((n, s) => n + s.keys.length, 0);
  if (!Number.isInteger(k) || k < 0 || k > total) throw new Error(`cannot select ${k} of ${total} keys`);
  // Uint32 counters are the fastest in V8; past 2^32 keys a bucket could overflow them.
  if (total >= 2 ** 32) throw new PruneError(`${total} weights in one selection: more than this selection counts (2^32 - 1)`);
  const high = new Uint32Array(65536);
  const topMask = options.abs ? 0x7fff : 0xffff;
  for (const { keys } of sources) countHigh(keys, high, topMask);
  if (options.abs) {
    for (let b = F32_INF >>> 16; b < 0x8000; b++) if (high[b]) findNaN(sources);
  }
  if (k === 0) return { threshold: 0, ties: 0, below: 0, k };
  const { bin: bucket, below: belowBucket } = binOfRank(high, k, 0);
  const low = new Uint32Array(65536);
  const mask = options.abs ? SIGN_OFF : 0xffffffff;
  for (const { keys } of sources) countLow(keys, low, mask, bucket);
  const { bin: l, below } = binOfRank(low, k, belowBucket);
  return { threshold: ((bucket << 16) | l) >>> 0, ties: k - below, below, k };
}

// Small monomorphic loops: V8 optimises them once for Uint32Array and keeps them fast.
function countHigh(keys: Uint32Array, counts: Uint32Array, topMask: number): void {
  const n = keys.length;
  for (let i = 0; i < n; i++) counts[(keys[i] >>> 16) & topMask]++;
}

function countLow(keys: Uint32Array, counts: Uint32Array, mask: number, bucket: number): void {
  const n = keys.length;
  for (let i = 0; i < n; i++) {
    const key = keys[i] & mask;
    if (key >>> 16 === bucket) counts[key & 0xffff]++;
  }
}

/**
 * The histogram bin that holds the k-th smallest key (1-based), counting from `below` keys
 * already below bin 0, and how many keys lie below that bin.
 */
export function binOfRank(counts: ArrayLike<number>, k: number, below: number): { bin: number; below: number } {
  let bin = 0;
  while (bin < counts.length - 1 && below + counts[bin] < k) below += counts[bin++];
  return { bin, below };
}

function findNaN(sources: readonly KeySource[]): void {
  for (const { name, keys } of sources) {
    const i = firstNaN(keys);
    if (i >= 0) throw nanError(name, i);
  }
}

/** Index of the first fp32 NaN among the keys, or -1. */
export function firstNaN(keys: Uint32Array): number {
  for (let i = 0; i < keys.length; i++) if ((keys[i] & SIGN_OFF) > F32_INF) return i;
  return -1;
}

export function nanError(tensor: string, index: number): PruneError {
  return new PruneError(`${tensor}: weight ${index} is NaN; magnitude pruning cannot rank it (fix or exclude the tensor)`);
}

/**
 * Writes the keep-mask of each source for a selection, carrying the tie budget across sources
 * in order. Returns masks in source order.
 */
export function masksFromSelection(sources: readonly KeySource[], selection: Selection, options: { abs: boolean }): Bitmask[] {
  if (options.abs) return absMasks(sources, selection);
  const mask = 0xffffffff;
  const threshold = selection.threshold;
  let ties = selection.ties;
  const out: Bitmask[] = [];
  for (const { keys } of sources) {
    const result = new Bitmask(keys.length);
    const bits = result.bits;
    const n = keys.length;
    let byte = 0;
    for (let i = 0; i < n; i++) {
      const key = (keys[i] & mask) >>> 0;
      let keep = 1;
      if (key < threshold) keep = 0;
      else if (key === threshold && ties > 0) {
        keep = 0;
        ties--;
      }
      byte |= keep << (i & 7);
      if ((i & 7) === 7) {
        bits[i >>> 3] = byte;
        byte = 0;
      }
    }
    if (n & 7) bits[n >>> 3] = byte;
    out.push(result);
  }
  return out;
}

/** fp32 bits of a float array, as a view (no copy). */
export function floatKeys(weights: Float32Array): Uint32Array {
  return new Uint32Array(weights.buffer, weights.byteOffset, weights.length);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** The |w| value a magnitude threshold stands for. */
export function keyToFloat(key: number): number {
  u32[0] = key;
  return f32[0];
}

/**
 * The magnitude case, branch-free in the common path: at 50% sparsity "below the threshold?"
 * is a coin flip the CPU cannot predict, so keep = (threshold - key) >>> 31 (keys and the
 * threshold are below 2^31 once the sign is cleared) instead of an if. Keys equal to the
 * threshold are rare and take the ordered tie path.
 */
function absMasks(sources: readonly KeySource[], selection: Selection): Bitmask[] {
  const threshold = selection.threshold;
  let ties = selection.ties;
  const out: Bitmask[] = [];
  for (const { keys } of sources) {
    const n = keys.length;
    const result = new Bitmask(n);
    // 32 weights to a word: a fresh Bitmask is 4-byte aligned, and on little-endian machines
    // bit j of word w is bit (32w + j) in the file's byte order.
    const words = new Int32Array(result.bits.buffer, result.bits.byteOffset, n >>> 5);
    const whole = words.length * 32;
    for (let base = 0, wi = 0; base < whole; base += 32, wi++) {
      let word = 0;
      for (let j = 0; j < 32; j++) {
        const key = keys[base + j] & SIGN_OFF;
        let keep = (threshold - key) >>> 31;
        if (key === threshold) {
          if (ties > 0) ties--;
          else keep = 1;
        }
        word |= keep << j;
      }
      words[wi] = word;
    }
    for (let i = whole; i < n; i++) {
      const key = keys[i] & SIGN_OFF;
      let keep = key > threshold;
      if (key === threshold) {
        if (ties > 0) ties--;
        else keep = true;
      }
      if (keep) result.keep(i);
    }
    out.push(result);
  }
  return out;
}

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error("prunebench's mask code assumes a little-endian machine");
