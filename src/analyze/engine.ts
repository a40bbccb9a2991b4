import type { ParamInfo, Part } from "../models/types.ts";
import type { Analysis, LayerStats } from "../results/analysis.ts";
import { CONVENTION, countParams, isCounted } from "./counts.ts";
import { ABS_BUCKETS, NON_FINITE_BUCKET, thresholdBits } from "./float-bits.ts";
import { boundaryGrid, chooseLinearBins, type BoundaryGrid } from "./grid.ts";
import { absCumulative, summarize, type Layout } from "./group.ts";
import { WeightPass, type PassGrids, type Unit } from "./pass.ts";
import type { WeightSource } from "./source.ts";
import { spearman } from "./spearman.ts";
import { DataType } from "../onnx/dtype.ts";
import { countNonFinite, NonFiniteWeightsError, type NonFiniteCount } from "../onnx/finite.ts";

export { NonFiniteWeightsError };
import { AnalyzeSchema } from "../config/schema.ts";

/** The config schema's `analyze.cutoffs` default, for callers that do not start from a config. */
export const DEFAULT_CUTOFFS: number[] = AnalyzeSchema.parse({}).cutoffs;

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

/**
 * The pass counts NaN and Inf together, in its bins; only when it found some are those tensors
 * read again, to word the refusal as every command does (src/onnx/finite.ts).
 */
function nonFiniteCounts(source: WeightSource, params: readonly ParamInfo[], found: readonly { name: string }[]): NonFiniteCount[] {
  const slice = 1 << 16;
  const scratch = new Float32Array(slice);
  return found.map(({ name }) => {
    const p = params.find((x) => x.name === name)!;
    const counts = { name, nan: 0, inf: 0 };
    for (let start = 0; start < p.count; start += slice) {
      const v = source.read(p, start, Math.min(slice, p.count - start), scratch);
      countNonFinite(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), DataType.FLOAT, counts);
    }
    return counts;
  });
}

/** Point c of the scale-free curve reported per layer (|w| < 0.1 sigma). */
const SCALED_REFERENCE = 0.1;

/**
 * One pass over the weights: each tensor is read once (a layer's tensors are held together
 * until the layer's exact median is known; anything else streams in slices), binned, and
 * dropped. Memory is the largest layer plus fixed-size bins per group.
 */
export function analyzeWeights(options: AnalyzeOptions): Analysis {
  const clock = options.clock ?? (() => performance.now());
  const started = clock();
  const grids = analysisGrids(options);
  const counts = countParams(options.params);
  const units = groupUnits(options.params.filter(isCounted));
  const pass = new WeightPass(
    {
      source: options.source,
      label: options.label,
      grids,
      chunk: Math.max(1024, options.chunkElements ?? 1 << 22),
      holdLimit: options.holdLayerElements ?? 1 << 27,
      total: counts.total,
      onProgress: options.onProgress,
    },
    units,
  );
  for (const unit of units) pass.scan(unit);
  if (pass.nonFinite.length > 0) throw new NonFiniteWeightsError(options.label, nonFiniteCounts(options.source, options.params, pass.nonFinite));
  return assemble(pass, units, counts, grids, options.linearQuantile ?? 0.995, Math.max(0, (clock() - started) / 1000));
}

interface AnalysisGrids extends PassGrids {
  cutoffs: number[];
  cutValues: number[];
  raw: BoundaryGrid;
  /** Index of SCALED_REFERENCE in `scaled`, or -1. */
  scaledReference: number;
}

function analysisGrids(options: AnalyzeOptions): AnalysisGrids {
  const cutoffs = options.cutoffs ?? DEFAULT_CUTOFFS;
  for (const c of cutoffs) if (!(c > 0) || !Number.isFinite(c)) throw new RangeError(`cutoffs: ${c} is not a positive number`);
  const perDecade = options.perDecade ?? 10;
  const [rawLo, rawHi] = options.rawLog10 ?? [-7, 1];
  const [scLo, scHi] = options.scaledLog10 ?? [-4, 1];
  const scaled: number[] = [];
  for (let i = Math.round(scLo * perDecade); i <= Math.round(scHi * perDecade); i++) scaled.push(Number((10 ** (i / perDecade)).toPrecision(6)));
  return {
    cutoffs,
    cutValues: [0, ...cutoffs],
    cutBits: [1, ...cutoffs.map(thresholdBits)],
    raw: boundaryGrid(rawLo, rawHi, perDecade),
    scaled,
    scaledReference: scaled.findIndex((c) => Math.abs(c - SCALED_REFERENCE) < 1e-9),
  };
}

/** The Analysis of a finished pass: the model, its parts, the prunable weights and each layer. */
function assemble(pass: WeightPass, units: readonly Unit[], counts: ReturnType<typeof countParams>, grids: AnalysisGrids, linearQuantile: number, seconds: number): Analysis {
  const layout: Layout = {
    cuts: { values: grids.cutValues, bits: grids.cutBits },
    raw: grids.raw,
    scaled: grids.scaled,
    linear: chooseLinearBins(absCumulativeToHist(absCumulative(pass.all.hist)), pass.all.params, linearQuantile),
  };
  const allSummary = summarize(pass.all, layout);
  const byPart: Analysis["byPart"] = {};
  for (const [key, g] of pass.groups) if (key.startsWith("part:")) byPart[key.slice(5)] = summarize(g, layout).distribution;
  const prunable = pass.groups.get("prunable");
  const prunableSummary = prunable ? summarize(prunable, layout) : undefined;
  const perLayer = layerStats(pass, units, layout, grids.scaledReference);
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
    cutoffs: grids.cutoffs,
    belowCutoff: allSummary.belowCutoff,
    all: allSummary.distribution,
    byPart,
    ...(prunableSummary ? { prunable: prunableSummary.distribution, prunableBelowCutoff: prunableSummary.belowCutoff } : {}),
    perLayer,
    earlierLayersSmaller: earlierLayers(perLayer),
    zeros: allSummary.distribution.zeros,
    seconds,
    notes: [
      "Raw cutoffs mostly measure each model's weight scale (its init std and training); the scale-free curve divides |w| by the std of each weight's own tensor, so models of different scale can be compared.",
      "Log-grid points are floats with 8 significant bits (within 0.4% of 10^x), counted exactly; table cutoffs are counted exactly as given.",
      "Earlier layers hold more small weights when Spearman's rho between layer index and median |w| is positive.",
    ],
  };
}

function layerStats(pass: WeightPass, units: readonly Unit[], layout: Layout, scaledReference: number): LayerStats[] {
  const perLayer: LayerStats[] = [];
  for (const unit of units) {
    if (unit.layer === null) continue;
    const g = pass.group(`layer:${unit.part}:${unit.layer}`);
    const s = summarize(g, layout);
    perLayer.push({
      part: unit.part,
      layer: unit.layer,
      params: g.params,
      belowCutoff: s.belowCutoff,
      medianAbs: pass.medians.get(`${unit.part}:${unit.layer}`) ?? 0,
      belowScaled: scaledReference >= 0 ? s.distribution.scaleFree.fraction[scaledReference] : 0,
      zeros: s.distribution.zeros,
      linear: s.distribution.linear,
      // Same edges as the model's log10 histogram: not repeated per layer.
      log10: { ...s.distribution.log10, edges: undefined },
    });
  }
  return perLayer.sort((a, b) => partOrder(a.part) - partOrder(b.part) || a.layer - b.layer);
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
