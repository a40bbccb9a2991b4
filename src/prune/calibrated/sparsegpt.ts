/**
 * SparseGPT as a pruning method, run SEQUENTIALLY as in the paper (section 3.5, and the
 * reference code's layer loop): the layers are pruned in order, and each layer's Hessians are
 * collected on a copy of the model whose earlier layers already hold their pruned,
 * reconstructed weights, so each layer corrects for the error of those before it. All matrices
 * of one layer are calibrated together (the reference code's hooks on a block's sublayers).
 */
import { graphOf } from "../../onnx/model.ts";
import { cloneModel, findInitializer } from "../../onnx/graph.ts";
import { setFloatValues } from "../../onnx/tensor.ts";
import { PruneError } from "../errors.ts";
import { parseNM, patternPart } from "../methods/nm.ts";
import type { MaskSet, PruneContext, PruneMethod, PruneTarget } from "../types.ts";
import { asCalibration, collectInputStats, targetInputs, type CalibrationData } from "./calibration.ts";
import { SegmentedCalibration } from "./segments.ts";
import { SPARSEGPT_DEFAULTS, sparseGptPrune, type SparseGptOptions } from "./sparsegpt-solve.ts";

export interface SparseGptMethodOptions extends SparseGptOptions {
  /** Recalibrate after each layer (the paper); false collects every Hessian once from the dense model. */
  sequential: boolean;
  /**
   * Calibrate each layer on the whole model instead of segment by segment (what is done anyway
   * where the graph's order does not allow segments; tests compare the two).
   */
  wholeModel?: boolean;
}

/** Targets grouped by layer in forward order: encoder layers, decoder layers, then the rest. */
export function layerGroups(targets: readonly PruneTarget[]): PruneTarget[][] {
  const key = (t: PruneTarget) => {
    const part = t.info.part === "encoder" ? 0 : t.info.part === "decoder" ? 1 : 2;
    return t.info.layer === null ? [3, 0] : [part, t.info.layer];
  };
  const groups = new Map<string, { k: number[]; list: PruneTarget[] }>();
  for (const t of targets) {
    const k = key(t);
    const id = k.join(".");
    if (!groups.has(id)) groups.set(id, { k, list: [] });
    groups.get(id)!.list.push(t);
  }
  return [...groups.values()].sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1]).map((g) => g.list);
}

function dims(t: PruneTarget): { inputs: number; outputs: number; outIn: boolean } {
  if (t.shape.length !== 2) throw new PruneError(`${t.name}: SparseGPT prunes 2-D matrices, this one has shape [${t.shape.join(", ")}]`);
  const outIn = t.layout === "out_in";
  return { inputs: outIn ? t.shape[1] : t.shape[0], outputs: outIn ? t.shape[0] : t.shape[1], outIn };
}

function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

/** Prunes one target in place (its weights become the reconstruction) and returns its mask. */
export async function pruneTarget(t: PruneTarget, hessian: Float64Array, sparsity: number, options: SparseGptOptions) {
  const { inputs, outputs, outIn } = dims(t);
  if (!outIn) return sparseGptPrune(t.weights, inputs, outputs, hessian, sparsity, options);
  const w = transpose(t.weights, outputs, inputs);
  const mask = await sparseGptPrune(w, inputs, outputs, hessian, sparsity, options);
  t.weights.set(transpose(w, inputs, outputs));
  return mask.transposed(inputs, outputs);
}

/**
 * SparseGPT over the targets with per-target sparsities (OWL passes its layer allocation):
 * layer by layer, Hessians from the model as pruned so far.
 */
export async function sparseGptMasks(targets: readonly PruneTarget[], sparsityOf: (t: PruneTarget) => number, options: SparseGptMethodOptions, context: PruneContext, calibration: CalibrationData): Promise<MaskSet> {
  const inputOf = targetInputs(context.model, targets);
  const work = cloneModel(context.model);
  const graph = graphOf(work);
  const masks: MaskSet = new Map();
  const groups = options.sequential ? layerGroups(targets) : [targets.slice()];
  const sizesOf = (group: PruneTarget[]) => {
    const sizes = new Map<string, number>();
    for (const t of group) sizes.set(inputOf.get(t.name)!, dims(t).inputs);
    return sizes;
  };
  const segmented = options.sequential && !options.wholeModel ? await SegmentedCalibration.create(work, groups, calibration) : null;
  let done = 0;
  for (const [g, group] of groups.entries()) {
    const sizes = sizesOf(group);
    const stats = segmented ? await segmented.stats(g, sizes, "hessian") : await collectInputStats(work, sizes, "hessian", calibration);
    for (const t of group) {
      const h = stats.get(inputOf.get(t.name)!)!.values;
      masks.set(t.name, await pruneTarget(t, h, sparsityOf(t), options));
      if (segmented) continue;
      // The calibration copy gets its own bytes (the target may be a view of the output model),
      // in the weight's own type so an fp16 graph stays well-typed.
      const tensor = findInitializer(graph, t.name);
      if (tensor) setFloatValues(tensor, Float32Array.from(t.weights));
    }
    await segmented?.advance(g);
    done += group.length;
    context.log(`sparsegpt: ${done}/${targets.length} matrices (${sizes.size} Hessians on ${calibration.samples} windows${segmented ? ", layer by layer" : ""})`);
  }
  return masks;
}

export function parseSparseGptOptions(raw: Record<string, unknown>, where = "sparsegpt"): SparseGptMethodOptions {
  const known = ["nm", "pattern", "blocksize", "block_size", "damp", "sequential", "whole_model"];
  for (const key of Object.keys(raw)) if (!known.includes(key)) throw new PruneError(`${where}: unknown option ${JSON.stringify(key)} (known: nm, blocksize, damp, sequential, whole_model)`);
  const pattern = raw.nm ?? raw.pattern;
  const blockSize = Number(raw.blocksize ?? raw.block_size ?? SPARSEGPT_DEFAULTS.blockSize);
  if (!Number.isSafeInteger(blockSize) || blockSize < 1) throw new PruneError(`${where} option blocksize: ${String(raw.blocksize ?? raw.block_size)} is not a positive integer`);
  const damp = Number(raw.damp ?? SPARSEGPT_DEFAULTS.damp);
  if (!Number.isFinite(damp) || damp < 0) throw new PruneError(`${where} option damp: ${String(raw.damp)} is not a non-negative number`);
  const flag = (key: string, fallback: boolean) => {
    const value = raw[key] ?? fallback;
    if (typeof value !== "boolean" && value !== "true" && value !== "false") throw new PruneError(`${where} option ${key}: ${JSON.stringify(value)} is not true or false`);
    return value === true || value === "true";
  };
  const wholeModel = flag("whole_model", false);
  return { blockSize, damp, sequential: flag("sequential", true), ...(wholeModel ? { wholeModel } : {}), ...(pattern === undefined ? {} : { nm: parseNM(pattern, `${where} nm`) }) };
}

export const sparsegpt: PruneMethod<SparseGptMethodOptions> = {
  name: "sparsegpt",
  description: "OBS reconstruction from calibration Hessians, layer by layer (Frantar & Alistarh 2023); nm: \"2:4\" for N:M",
  scope: "matrix",
  calibrated: true,
  updatesWeights: true,
  optionKey: "nm",
  parseOptions: (raw) => parseSparseGptOptions(raw),
  impliedSparsity: (o) => (o.nm ? (o.nm.m - o.nm.n) / o.nm.m : null),
  runIdParts: patternPart,
  describeOptions: (o) => ({ ...(o.nm ? { nm: `${o.nm.n}:${o.nm.m}` } : {}), blocksize: o.blockSize, damp: o.damp, sequential: o.sequential, ...(o.wholeModel ? { whole_model: true } : {}) }),
  async selectMasks(targets, { sparsity, options }, context) {
    const calibration = asCalibration(context.calibration, "sparsegpt");
    return sparseGptMasks(targets, () => sparsity, options, context, calibration);
  },
};
