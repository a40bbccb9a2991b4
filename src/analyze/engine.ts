import type { ParamInfo, Part } from "../models/types.ts";
import type { Analysis, LayerStats } from "../results/analysis.ts";
import { CONVENTION, countParams, isCounted } from "./counts.ts";
import { ABS_BUCKETS, NON_FINITE_BUCKET, SIGNED_BUCKETS, bitsToFloat, nearestBoundaryKey, thresholdBits } from "./float-bits.ts";
import { boundaryGrid, chooseLinearBins } from "./grid.ts";
import { GroupStats, absCumulative, summarize, type Layout } from "./group.ts";
import { addSums, emptySums, exactMoments, histogramMoments, sumsMoments, type Sums } from "./moments.ts";
import { ResolverBuilder, locateRanks, selectInBucket } from "./resolver.ts";
import { histogramBits, resolveBits, type Resolver } from "./scan.ts";
import type { WeightSource } from "./source.ts";
import { spearman } from "./spearman.ts";

export const DEFAULT_CUTOFFS = [0.1, 0.01, 0.001];

export interface AnalyzeOptions {
  /** Every initializer of the model, as mapped (src/models); which ones count is decided here. */
  params: readonly ParamInfo[];
  source: WeightSource;
  /** Names the model in errors (the file). */
  label: string;
  cutoffs?: number[];
  /** log10 range of the raw grid (histogram edges and curve points). */
  rawLog10?: [number, number];
  /** log10 range of the scale-free curve's points c (|w| / sigma). */
  scaledLog10?: [number, number];
  perDecade?: number;
  /** Quantile of |w| the linear histogram's range covers. */
  linearQuantile?: number;
  /** Slice size for tensors outside layers (embeddings), so memory does not follow vocabulary size. */
  chunkElements?: number;
  /**
   * Layers up to this many weights are held in memory for their exact median (default 2^27,
   * 512 MiB as fp32); a larger layer is read a second time instead.
   */
  holdLayerElements?: number;
  /** Milliseconds; injected so tests can fix `seconds`. */
  clock?: () => number;
  onProgress?: (doneParams: number, totalParams: number) => void;
}

/** Raised when weights hold NaN or Inf: the analysis refuses them, naming every such tensor. */
export class NonFiniteWeightsError extends Error {
  constructor(
    readonly label: string,
    readonly tensors: { name: string; count: number }[],
  ) {
    const list = tensors.map((t) => `${t.name} (${t.count})`).join(", ");
    super(`${label}: initializers: NaN or Inf in ${tensors.length} tensor${tensors.length === 1 ? "" : "s"}: ${list}`);
    this.name = "NonFiniteWeightsError";
  }
}

/** Tensors up to this size get exact moments (norm scales, biases); larger ones from their bins. */
const EXACT_MOMENTS_MAX = 1 << 16;
/** Tensors up to this size skip the passes over all 65,536 bins. */
const SMALL_TENSOR = 8192;
const SCALED_REFERENCE = 0.1;

interface Unit {
  part: Part;
  layer: number | null;
  params: ParamInfo[];
}

/**
 * One pass over the weights: each tensor is read once (a layer's tensors are held together
 * until the layer's exact median is known; anything else streams in slices), binned, and
 * dropped. Memory is the largest layer plus fixed-size bins per group.
 */
export function analyzeWeights(options: AnalyzeOptions): Analysis {
  const clock = options.clock ?? (() => performance.now());
  const started = clock();
  const cutoffs = options.cutoffs ?? DEFAULT_CUTOFFS;
  for (const c of cutoffs) if (!(c > 0) || !Number.isFinite(c)) throw new RangeError(`cutoffs: ${c} is not a positive number`);
  const perDecade = options.perDecade ?? 10;
  const [rawLo, rawHi] = options.rawLog10 ?? [-7, 1];
  const [scLo, scHi] = options.scaledLog10 ?? [-4, 1];
  const raw = boundaryGrid(rawLo, rawHi, perDecade);
  const scaled: number[] = [];
  for (let i = Math.round(scLo * perDecade); i <= Math.round(scHi * perDecade); i++) scaled.push(Number((10 ** (i / perDecade)).toPrecision(6)));
  const scaledReference = scaled.findIndex((c) => Math.abs(c - SCALED_REFERENCE) < 1e-9);
  const cutValues = [0, ...cutoffs];
  const cutBits = [1, ...cutoffs.map(thresholdBits)];
  const chunk = Math.max(1024, options.chunkElements ?? 1 << 22);

  const counted = options.params.filter(isCounted);
  const counts = countParams(options.params);
  const units = groupUnits(counted);
  const holdLimit = options.holdLayerElements ?? 1 << 27;
  const arenaSize = Math.max(
    0,
    ...units.map((u) => (u.layer !== null && layerElements(u) <= holdLimit ? layerElements(u) : Math.min(chunk, Math.max(0, ...u.params.map((p) => p.count))))),
  );
  const arena = new Float32Array(arenaSize);
  const forEachSlice = (p: ParamInfo, fn: (data: Float32Array) => void) => {
    for (let start = 0; start < p.count; start += chunk) {
      const n = Math.min(chunk, p.count - start);
      const data = options.source.read(p, start, n, arena);
      checkLength(options.label, p, data, n);
      fn(data);
    }
  };
  const tensorHist = new Uint32Array(SIGNED_BUCKETS);

  const groups = new Map<string, GroupStats>();
  const group = (key: string) => {
    let g = groups.get(key);
    if (!g) {
      g = new GroupStats(cutBits.length, scaled.length);
      groups.set(key, g);
    }
    return g;
  };
  const all = group("all");
  const groupsOf = (p: ParamInfo) => {
    const out = [all, group(`part:${p.part}`)];
    if (p.prunable) out.push(group("prunable"));
    if (p.layer !== null) out.push(group(`layer:${p.part}:${p.layer}`));
    return out;
  };

  const cutResolver = new ResolverBuilder();
  cutBits.forEach((bits, i) => cutResolver.threshold(bits, i));
  const cutKeys = cutResolver.keys();
  const cutOnly = cutResolver.build();
  const cutCounts = new Float64Array(cutBits.length);
  const nonFinite: { name: string; count: number }[] = [];
  const medians = new Map<string, number>();
  let done = 0;

  /** After a tensor's bins are complete: moments, scale-free counts, merge into its groups. */
  const cumulative = new Float64Array(ABS_BUCKETS + 1);
  const below = new Float64Array(scaled.length);
  /** `data` is the whole tensor when it was read in one piece; `sums` its exact sums when small. */
  const finishTensor = (p: ParamInfo, targets: GroupStats[], data: Float32Array | null, sums: Sums | null) => {
    if (data && p.count <= SMALL_TENSOR) {
      // Norm scales and biases: everything straight from the values, no pass over all bins.
      const m = exactMoments(data);
      if (m.nonFinite > 0) nonFinite.push({ name: p.name, count: m.nonFinite });
      const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
      scaledBelowSmall(bits, scaled.map((c) => (m.std > 0 ? nearestBoundaryKey(c * m.std) : 1) << 16), below);
      mergeTouched(bits, tensorHist, targets);
    } else {
      const hm = histogramMoments(tensorHist);
      const m = sums ? sumsMoments(sums) : hm;
      if (hm.nonFinite > 0) nonFinite.push({ name: p.name, count: hm.nonFinite });
      tensorCumulative(tensorHist, cumulative);
      scaled.forEach((c, j) => (below[j] = m.std > 0 ? cumulative[nearestBoundaryKey(c * m.std)] : cumulative[1]));
      mergeHistogram(tensorHist, targets);
    }
    for (const g of targets) {
      g.params += p.count;
      for (let j = 0; j < below.length; j++) g.scaledBelow[j] += below[j];
    }
    done += p.count;
    options.onProgress?.(done, counts.total);
  };
  const addCuts = (targets: GroupStats[], local: Float64Array) => {
    for (const g of targets) for (let i = 0; i < local.length; i++) g.cutInBucket[i] += local[i];
  };

  for (const unit of units) {
    if (unit.layer === null) {
      const p = unit.params[0];
      const targets = groupsOf(p);
      let data: Float32Array | null = null;
      const sums = p.count <= EXACT_MOMENTS_MAX ? emptySums() : null;
      for (let start = 0; start < p.count; start += chunk) {
        const n = Math.min(chunk, p.count - start);
        data = options.source.read(p, start, n, arena);
        checkLength(options.label, p, data, n);
        const bits = new Uint32Array(data.buffer, data.byteOffset, n);
        const before = cutKeys.map((k) => tensorHist[k] + tensorHist[k + ABS_BUCKETS]);
        histogramBits(bits, tensorHist);
        if (sums) addSums(data, sums);
        if (cutKeys.some((k, i) => tensorHist[k] + tensorHist[k + ABS_BUCKETS] !== before[i])) {
          cutCounts.fill(0);
          resolveBits(bits, cutOnly, cutCounts);
          addCuts(targets, cutCounts);
        }
      }
      finishTensor(p, targets, p.count <= chunk ? data : null, sums);
      continue;
    }
    // A layer: held in memory until its median bucket is known, then one second look. A layer
    // too large to hold is read a second time instead, slice by slice.
    const layerGroup = group(`layer:${unit.part}:${unit.layer}`);
    const hold = layerElements(unit) <= holdLimit;
    const views: Float32Array[] = [];
    let offset = 0;
    for (const p of unit.params) {
      if (hold) {
        const data = options.source.read(p, 0, p.count, arena.subarray(offset, offset + p.count));
        checkLength(options.label, p, data, p.count);
        offset += p.count;
        views.push(data);
        histogramBits(new Uint32Array(data.buffer, data.byteOffset, data.length), tensorHist);
        finishTensor(p, groupsOf(p), data, p.count <= EXACT_MOMENTS_MAX ? addSums(data, emptySums()) : null);
      } else {
        let last: Float32Array | null = null;
        const sums = p.count <= EXACT_MOMENTS_MAX ? emptySums() : null;
        forEachSlice(p, (data) => {
          histogramBits(new Uint32Array(data.buffer, data.byteOffset, data.length), tensorHist);
          if (sums) addSums(data, sums);
          last = data;
        });
        finishTensor(p, groupsOf(p), p.count <= chunk ? last : null, sums);
      }
    }
    const n = layerGroup.params;
    const resolver = new ResolverBuilder();
    cutBits.forEach((bits, i) => resolver.threshold(bits, i));
    const ranks = n === 0 ? [] : n % 2 === 1 ? [(n - 1) / 2] : [n / 2 - 1, n / 2];
    const located = locateRanks(absCumulative(layerGroup.hist), ranks);
    const lows = located.map((r) => resolver.lowBits(r.bucket));
    const built: Resolver = resolver.build();
    unit.params.forEach((p, i) => {
      cutCounts.fill(0);
      const look = (v: Float32Array) => resolveBits(new Uint32Array(v.buffer, v.byteOffset, v.length), built, cutCounts);
      if (hold) look(views[i]);
      else forEachSlice(p, look);
      addCuts(groupsOf(p), cutCounts);
    });
    if (located.length > 0 && nonFinite.length === 0) {
      const values = located.map((r, i) => bitsToFloat(selectInBucket(r.bucket, lows[i], r.within)));
      medians.set(`${unit.part}:${unit.layer}`, values.reduce((a, b) => a + b, 0) / values.length);
    }
  }
  if (nonFinite.length > 0) throw new NonFiniteWeightsError(options.label, nonFinite);

  const layout: Layout = {
    cuts: { values: cutValues, bits: cutBits },
    raw,
    scaled,
    linear: chooseLinearBins(absCumulativeToHist(absCumulative(all.hist)), all.params, options.linearQuantile ?? 0.995),
  };
  const allSummary = summarize(all, layout);
  const byPart: Analysis["byPart"] = {};
  for (const [key, g] of groups) if (key.startsWith("part:")) byPart[key.slice(5)] = summarize(g, layout).distribution;
  const prunable = groups.get("prunable");
  const prunableSummary = prunable ? summarize(prunable, layout) : undefined;

  const perLayer: LayerStats[] = [];
  for (const unit of units) {
    if (unit.layer === null) continue;
    const g = group(`layer:${unit.part}:${unit.layer}`);
    const s = summarize(g, layout);
    perLayer.push({
      part: unit.part,
      layer: unit.layer,
      params: g.params,
      belowCutoff: s.belowCutoff,
      medianAbs: medians.get(`${unit.part}:${unit.layer}`) ?? 0,
      belowScaled: scaledReference >= 0 ? s.distribution.scaleFree.fraction[scaledReference] : 0,
      zeros: s.distribution.zeros,
      linear: s.distribution.linear,
      // Same edges as the model's log10 histogram: not repeated per layer.
      log10: { ...s.distribution.log10, edges: undefined },
    });
  }
  perLayer.sort((a, b) => partOrder(a.part) - partOrder(b.part) || a.layer - b.layer);

  return {
    convention: CONVENTION,
    params: {
      total: counts.total,
      stored: counts.stored,
      withHeads: counts.withHeads,
      byPart: counts.byPart,
      byBlock: counts.byBlock,
      byRole: counts.byRole,
      prunable: counts.prunable,
    },
    cutoffs,
    belowCutoff: allSummary.belowCutoff,
    all: allSummary.distribution,
    byPart,
    ...(prunableSummary ? { prunable: prunableSummary.distribution, prunableBelowCutoff: prunableSummary.belowCutoff } : {}),
    perLayer,
    earlierLayersSmaller: earlierLayers(perLayer),
    zeros: allSummary.distribution.zeros,
    seconds: Math.max(0, (clock() - started) / 1000),
    notes: [
      "Raw cutoffs mostly measure each model's weight scale (its init std and training); the scale-free curve divides |w| by the std of each weight's own tensor, so models of different scale can be compared.",
      "Log-grid points are floats with 8 significant bits (within 0.4% of 10^x), counted exactly; table cutoffs are counted exactly as given.",
      "Earlier layers hold more small weights when Spearman's rho between layer index and median |w| is positive.",
    ],
  };
}

function groupUnits(params: readonly ParamInfo[]): Unit[] {
  const units: Unit[] = [];
  const layers = new Map<string, Unit>();
  for (const p of params) {
    if (p.layer === null) {
      units.push({ part: p.part, layer: null, params: [p] });
      continue;
    }
    const key = `${p.part}:${p.layer}`;
    let unit = layers.get(key);
    if (!unit) {
      unit = { part: p.part, layer: p.layer, params: [] };
      layers.set(key, unit);
      units.push(unit);
    }
    unit.params.push(p);
  }
  return units;
}

function layerElements(unit: Unit): number {
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

function absCumulativeToHist(cumulative: Float64Array): Float64Array {
  const out = new Float64Array(ABS_BUCKETS);
  for (let k = 0; k < ABS_BUCKETS; k++) out[k] = k < NON_FINITE_BUCKET ? cumulative[k + 1] - cumulative[k] : 0;
  return out;
}

function partOrder(part: Part): number {
  return part === "encoder" ? 0 : part === "decoder" ? 1 : 2;
}

function earlierLayers(perLayer: LayerStats[]): Analysis["earlierLayersSmaller"] {
  const out: Analysis["earlierLayersSmaller"] = [];
  for (const part of ["encoder", "decoder"] as const) {
    const layers = perLayer.filter((l) => l.part === part);
    if (layers.length < 2) continue;
    const rho = spearman(
      layers.map((l) => l.layer),
      layers.map((l) => l.medianAbs),
    );
    out.push({ part, holds: rho > 0, spearman: rho, layers: layers.length, measure: "median |w| by layer index" });
  }
  return out;
}
