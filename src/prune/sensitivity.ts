/**
 * Sensitivity scan: the perplexity increase when one layer alone is pruned at sparsity s, for
 * every layer (the per-layer chart of the report; cf. the layer-wise sensitivity analyses in
 * the OWL and SparseGPT papers). Each layer is pruned on a fresh copy of the model, so layers
 * do not interact.
 */
import type { ModelMap } from "../models/types.ts";
import type { OnnxModel } from "../onnx/model.ts";
import type { Sensitivity } from "../results/schema.ts";
import { pruneModel } from "./engine.ts";
import { PruneError } from "./errors.ts";
import { exactPatterns } from "./targets.ts";

export interface SensitivityOptions {
  method: string;
  sparsity: number;
  /** Method options, as for pruneModel. */
  options?: Record<string, unknown>;
  calibration?: unknown;
  seed?: number;
  /** A fresh, unpruned copy of the model for each call (pruning works in place). */
  load: () => OnnxModel;
  /** Perplexity of a model (the evaluation stage's, or any other measure where higher is worse). */
  evaluate: (model: OnnxModel) => Promise<number>;
  log?: (message: string) => void;
}

/** The (part, layer) pairs that have prunable matrices, in forward order. */
export function prunableLayers(map: ModelMap): { part: "encoder" | "decoder"; layer: number; names: string[] }[] {
  const out = new Map<string, { part: "encoder" | "decoder"; layer: number; names: string[] }>();
  for (const p of map.params) {
    if (!p.prunable || p.layer === null || p.duplicateOf || p.part === "shared") continue;
    const key = `${p.part}.${p.layer}`;
    if (!out.has(key)) out.set(key, { part: p.part, layer: p.layer, names: [] });
    out.get(key)!.names.push(p.name);
  }
  return [...out.values()].sort((a, b) => (a.part === b.part ? a.layer - b.layer : a.part === "encoder" ? -1 : 1));
}

export async function sensitivityScan(map: ModelMap, options: SensitivityOptions): Promise<Sensitivity> {
  const log = options.log ?? (() => {});
  const layers = prunableLayers(map);
  if (!layers.length) throw new PruneError("sensitivity: the model map has no prunable matrix in any layer");
  const baseline = await options.evaluate(options.load());
  log(`sensitivity: dense perplexity ${baseline.toFixed(3)}`);
  const rows: Sensitivity["layers"] = [];
  for (const { part, layer, names } of layers) {
    const model = options.load();
    await pruneModel(model, map, {
      method: options.method,
      options: options.options,
      sparsity: options.sparsity,
      seed: options.seed,
      calibration: options.calibration,
      patterns: exactPatterns(names),
    });
    const perplexity = await options.evaluate(model);
    rows.push({ part, layer, perplexity, increase: perplexity - baseline });
    log(`sensitivity: ${part} layer ${layer} at ${options.sparsity}: ${perplexity.toFixed(3)} (+${(perplexity - baseline).toFixed(3)})`);
  }
  return { method: options.method, sparsity: options.sparsity, baseline, layers: rows };
}

/**
 * Per-layer sparsities from a sensitivity scan, the way OWL turns outlier ratios into them: the
 * layers' increases are scaled linearly into a band of width 2 * lambda and centred on the
 * overall sparsity, the most sensitive layer at the low end; clamped to [0, 0.99], so near 0
 * or 1 the mean can drift from `sparsity` (the run records what it achieved).
 */
export function allocateFromSensitivity(scan: Pick<Sensitivity, "layers">, sparsity: number, lambda: number): { part: string; layer: number; sparsity: number }[] {
  const increases = scan.layers.map((l) => l.increase);
  if (!increases.length) return [];
  const lo = Math.min(...increases);
  const hi = Math.max(...increases);
  const scaled = increases.map((r) => (hi > lo ? ((r - lo) / (hi - lo)) * 2 * lambda : lambda));
  const mean = scaled.reduce((a, b) => a + b, 0) / scaled.length;
  return scan.layers.map((l, i) => ({ part: l.part, layer: l.layer, sparsity: Math.min(0.99, Math.max(0, sparsity - (scaled[i] - mean))) }));
}
