import type { ParamInfo, Part } from "../models/types.ts";
import { ABS_BUCKETS, SIGNED_BUCKETS, bitsToFloat, nearestBoundaryKey } from "./float-bits.ts";
import { GroupStats, absCumulative } from "./group.ts";
import { addSums, emptySums, exactMoments, histogramMoments, sumsMoments, type Sums } from "./moments.ts";
import { ResolverBuilder, locateRanks, selectInBucket } from "./resolver.ts";
import { histogramBits, resolveBits, type Resolver } from "./scan.ts";
import type { WeightSource } from "./source.ts";

/** Tensors up to this size get exact moments (norm scales, biases); larger ones from their bins. */
const EXACT_MOMENTS_MAX = 1 << 16;
/** Tensors up to this size skip the passes over all 65,536 bins. */
const SMALL_TENSOR = 8192;

/** What is read together: one layer's tensors, or one tensor outside the layers. */
export interface Unit {
  part: Part;
  layer: number | null;
  params: ParamInfo[];
}

/** The grids a pass counts on (see Layout in group.ts). */
export interface PassGrids {
  /** Bits of the exact-count thresholds: 1 ("== 0"), then the cutoffs'. */
  cutBits: number[];
  /** Points c of the scale-free curve (|w| < c * sigma). */
  scaled: number[];
}

export interface PassOptions {
  source: WeightSource;
  label: string;
  grids: PassGrids;
  /** Slice size for tensors read in pieces. */
  chunk: number;
  /** Layers up to this many weights are held for their exact median; larger ones are read twice. */
  holdLimit: number;
  /** Weights that count, for progress. */
  total: number;
  onProgress?: (doneParams: number, totalParams: number) => void;
}

/**
 * The scanning state of one analysis: bins per group ("all", "part:*", "prunable",
 * "layer:*:*"), the exact counts at the cut thresholds, layer medians, and the tensors found
 * with NaN or Inf. Each unit is scanned once (a layer held in memory for its second look).
 */
export class WeightPass {
  readonly groups = new Map<string, GroupStats>();
  readonly all: GroupStats;
  readonly medians = new Map<string, number>();
  readonly nonFinite: { name: string; count: number }[] = [];
  private readonly arena: Float32Array;
  private readonly tensorHist = new Uint32Array(SIGNED_BUCKETS);
  private readonly cutKeys: number[];
  private readonly cutOnly: Resolver;
  private readonly cutCounts: Float64Array;
  private readonly cumulative = new Float64Array(ABS_BUCKETS + 1);
  private readonly below: Float64Array;
  private done = 0;

  constructor(
    private readonly options: PassOptions,
    units: readonly Unit[],
  ) {
    const { chunk, holdLimit, grids } = options;
    const arenaSize = Math.max(
      0,
      ...units.map((u) => (u.layer !== null && layerElements(u) <= holdLimit ? layerElements(u) : Math.min(chunk, Math.max(0, ...u.params.map((p) => p.count))))),
    );
    this.arena = new Float32Array(arenaSize);
    this.all = this.group("all");
    const cutResolver = new ResolverBuilder();
    grids.cutBits.forEach((bits, i) => cutResolver.threshold(bits, i));
    this.cutKeys = cutResolver.keys();
    this.cutOnly = cutResolver.build();
    this.cutCounts = new Float64Array(grids.cutBits.length);
    this.below = new Float64Array(grids.scaled.length);
  }

  group(key: string): GroupStats {
    let g = this.groups.get(key);
    if (!g) {
      g = new GroupStats(this.options.grids.cutBits.length, this.options.grids.scaled.length);
      this.groups.set(key, g);
    }
    return g;
  }

  scan(unit: Unit): void {
    if (unit.layer === null) this.scanTensor(unit.params[0]);
    else this.scanLayer(unit);
  }

  /** A tensor outside the layers (embeddings, heads): streamed in slices, cut counts per slice. */
  private scanTensor(p: ParamInfo): void {
    const { chunk } = this.options;
    const targets = this.groupsOf(p);
    const hist = this.tensorHist;
    let data: Float32Array | null = null;
    const sums = p.count <= EXACT_MOMENTS_MAX ? emptySums() : null;
    for (let start = 0; start < p.count; start += chunk) {
      const n = Math.min(chunk, p.count - start);
      data = this.read(p, start, n, this.arena);
      const bits = new Uint32Array(data.buffer, data.byteOffset, n);
      const before = this.cutKeys.map((k) => hist[k] + hist[k + ABS_BUCKETS]);
      histogramBits(bits, hist);
      if (sums) addSums(data, sums);
      if (this.cutKeys.some((k, i) => hist[k] + hist[k + ABS_BUCKETS] !== before[i])) {
        this.cutCounts.fill(0);
        resolveBits(bits, this.cutOnly, this.cutCounts);
        this.addCuts(targets);
      }
    }
    this.finishTensor(p, targets, p.count <= chunk ? data : null, sums);
  }

  /**
   * A layer: held in memory until its median bucket is known, then one second look. A layer
   * too large to hold is read a second time instead, slice by slice.
   */
  private scanLayer(unit: Unit): void {
    const { chunk, grids } = this.options;
    const layerGroup = this.group(`layer:${unit.part}:${unit.layer}`);
    const hold = layerElements(unit) <= this.options.holdLimit;
    const views: Float32Array[] = [];
    let offset = 0;
    for (const p of unit.params) {
      if (hold) {
        const data = this.read(p, 0, p.count, this.arena.subarray(offset, offset + p.count));
        offset += p.count;
        views.push(data);
        histogramBits(new Uint32Array(data.buffer, data.byteOffset, data.length), this.tensorHist);
        this.finishTensor(p, this.groupsOf(p), data, p.count <= EXACT_MOMENTS_MAX ? addSums(data, emptySums()) : null);
      } else {
        let last: Float32Array | null = null;
        const sums = p.count <= EXACT_MOMENTS_MAX ? emptySums() : null;
        this.forEachSlice(p, (data) => {
          histogramBits(new Uint32Array(data.buffer, data.byteOffset, data.length), this.tensorHist);
          if (sums) addSums(data, sums);
          last = data;
        });
        this.finishTensor(p, this.groupsOf(p), p.count <= chunk ? last : null, sums);
      }
    }
    const n = layerGroup.params;
    const resolver = new ResolverBuilder();
    grids.cutBits.forEach((bits, i) => resolver.threshold(bits, i));
    const ranks = n === 0 ? [] : n % 2 === 1 ? [(n - 1) / 2] : [n / 2 - 1, n / 2];
    const located = locateRanks(absCumulative(layerGroup.hist), ranks);
    const lows = located.map((r) => resolver.lowBits(r.bucket));
    const built: Resolver = resolver.build();
    unit.params.forEach((p, i) => {
      this.cutCounts.fill(0);
      const look = (v: Float32Array) => resolveBits(new Uint32Array(v.buffer, v.byteOffset, v.length), built, this.cutCounts);
      if (hold) look(views[i]);
      else this.forEachSlice(p, look);
      this.addCuts(this.groupsOf(p));
    });
    if (located.length > 0 && this.nonFinite.length === 0) {
      const values = located.map((r, i) => bitsToFloat(selectInBucket(r.bucket, lows[i], r.within)));
      this.medians.set(`${unit.part}:${unit.layer}`, values.reduce((a, b) => a + b, 0) / values.length);
    }
  }

  /**
   * After a tensor's bins are complete: moments, scale-free counts, merge into its groups.
   * `data` is the whole tensor when it was read in one piece; `sums` its exact sums when small.
   */
  private finishTensor(p: ParamInfo, targets: GroupStats[], data: Float32Array | null, sums: Sums | null): void {
    const { scaled } = this.options.grids;
    const below = this.below;
    if (data && p.count <= SMALL_TENSOR) {
      // Norm scales and biases: everything straight from the values, no pass over all bins.
      const m = exactMoments(data);
      if (m.nonFinite > 0) this.nonFinite.push({ name: p.name, count: m.nonFinite });
      const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
      scaledBelowSmall(bits, scaled.map((c) => (m.std > 0 ? nearestBoundaryKey(c * m.std) : 1) << 16), below);
      mergeTouched(bits, this.tensorHist, targets);
    } else {
      const hm = histogramMoments(this.tensorHist);
      const m = sums ? sumsMoments(sums) : hm;
      if (hm.nonFinite > 0) this.nonFinite.push({ name: p.name, count: hm.nonFinite });
      tensorCumulative(this.tensorHist, this.cumulative);
      scaled.forEach((c, j) => (below[j] = m.std > 0 ? this.cumulative[nearestBoundaryKey(c * m.std)] : this.cumulative[1]));
      mergeHistogram(this.tensorHist, targets);
    }
    for (const g of targets) {
      g.params += p.count;
      for (let j = 0; j < below.length; j++) g.scaledBelow[j] += below[j];
    }
    this.done += p.count;
    this.options.onProgress?.(this.done, this.options.total);
  }

  private groupsOf(p: ParamInfo): GroupStats[] {
    const out = [this.all, this.group(`part:${p.part}`)];
    if (p.prunable) out.push(this.group("prunable"));
    if (p.layer !== null) out.push(this.group(`layer:${p.part}:${p.layer}`));
    return out;
  }

  private addCuts(targets: GroupStats[]): void {
    for (const g of targets) for (let i = 0; i < this.cutCounts.length; i++) g.cutInBucket[i] += this.cutCounts[i];
  }

  private read(p: ParamInfo, start: number, n: number, into: Float32Array): Float32Array {
    const data = this.options.source.read(p, start, n, into);
    checkLength(this.options.label, p, data, n);
    return data;
  }

  private forEachSlice(p: ParamInfo, fn: (data: Float32Array) => void): void {
    const { chunk } = this.options;
    for (let start = 0; start < p.count; start += chunk) fn(this.read(p, start, Math.min(chunk, p.count - start), this.arena));
  }
}

export function layerElements(unit: Unit): number {
  return unit.params.reduce((s, p) => s + p.count, 0);
}

function checkLength(label: string, p: ParamInfo, data: Float32Array, expected: number): void {
  if (data.length !== expected) throw new Error(`${label}: initializer ${JSON.stringify(p.name)}: read ${data.length} values, expected ${expected}`);
}

/** cumulative[k] = weights of the tensor in abs buckets below k. */
function tensorCumulative(hist: Uint32Array, cumulative: Float64Array): void {
  cumulative[0] = 0;
  for (let k = 0; k < ABS_BUCKETS; k++) cumulative[k + 1] = cumulative[k] + hist[k] + hist[k + ABS_BUCKETS];
}

/** below[j] = weights with bits(|w|) < limits[j] (limits ascending), straight from the values. */
function scaledBelowSmall(bits: Uint32Array, limits: number[], below: Float64Array): void {
  below.fill(0);
  const n = limits.length;
  for (let i = 0; i < bits.length; i++) {
    const a = bits[i] & 0x7fffffff;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a < limits[mid]) hi = mid;
      else lo = mid + 1;
    }
    if (lo < n) below[lo]++;
  }
  for (let j = 1; j < n; j++) below[j] += below[j - 1];
}

/** Like mergeHistogram, visiting only the bins a small tensor touched. */
function mergeTouched(bits: Uint32Array, hist: Uint32Array, targets: GroupStats[]): void {
  for (let i = 0; i < bits.length; i++) {
    const k = bits[i] >>> 16;
    const c = hist[k];
    if (c === 0) continue;
    for (const g of targets) g.hist[k] += c;
    hist[k] = 0;
  }
}

/** Adds a tensor's bins into its groups and clears them for the next tensor. */
function mergeHistogram(hist: Uint32Array, targets: GroupStats[]): void {
  for (let k = 0; k < SIGNED_BUCKETS; k++) {
    const c = hist[k];
    if (c === 0) continue;
    for (const g of targets) g.hist[k] += c;
    hist[k] = 0;
  }
}

