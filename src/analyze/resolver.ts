import { ABS_BUCKETS } from "./float-bits.ts";
import type { Resolver } from "./scan.ts";

/** Builds the set of buckets that get a second look, and what each one counts. */
export class ResolverBuilder {
  private readonly slotOf = new Int32Array(ABS_BUCKETS);
  private readonly thresholds: number[][] = [];
  private readonly counters: number[][] = [];
  private readonly lows: (Uint32Array | null)[] = [];

  private slot(key: number): number {
    let s = this.slotOf[key];
    if (s === 0) {
      this.thresholds.push([]);
      this.counters.push([]);
      this.lows.push(null);
      s = this.thresholds.length;
      this.slotOf[key] = s;
    }
    return s - 1;
  }

  /** Count weights with bits(|w|) < `bits` inside that threshold's bucket, into `counter`. */
  threshold(bits: number, counter: number): void {
    if ((bits & 0xffff) === 0) return; // on a bucket boundary: the histogram is exact
    const s = this.slot(bits >>> 16);
    this.thresholds[s].push(bits);
    this.counters[s].push(counter);
  }

  /** Keep a histogram of the low 16 bits of the bucket, to select a rank inside it. */
  lowBits(key: number): Uint32Array {
    const s = this.slot(key);
    this.lows[s] ??= new Uint32Array(1 << 16);
    return this.lows[s];
  }

  get empty(): boolean {
    return this.thresholds.length === 0;
  }

  /** Abs bucket keys that have a slot. */
  keys(): number[] {
    const out: number[] = [];
    for (let k = 0; k < ABS_BUCKETS; k++) if (this.slotOf[k] !== 0) out.push(k);
    return out;
  }

  build(): Resolver {
    return {
      slotOf: this.slotOf,
      thresholds: this.thresholds.map((t) => Uint32Array.from(t)),
      counters: this.counters.map((c) => Int32Array.from(c)),
      lows: this.lows,
    };
  }
}

/** The bucket of each 0-based rank of |w| in a group, and the rank inside the bucket. */
export function locateRanks(cumulative: Float64Array, ranks: readonly number[]): { bucket: number; within: number }[] {
  return ranks.map((rank) => {
    let lo = 0;
    let hi = ABS_BUCKETS - 1;
    // smallest bucket k with cumulative[k + 1] > rank
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid + 1] > rank) hi = mid;
      else lo = mid + 1;
    }
    return { bucket: lo, within: rank - cumulative[lo] };
  });
}

/** The bit pattern of the `within`-th smallest |w| of a bucket, from its low-bits histogram. */
export function selectInBucket(bucket: number, low: Uint32Array, within: number): number {
  let seen = 0;
  for (let i = 0; i < low.length; i++) {
    seen += low[i];
    if (seen > within) return ((bucket << 16) | i) >>> 0;
  }
  throw new Error(`rank ${within} lies outside bucket ${bucket} (${seen} weights)`);
}
