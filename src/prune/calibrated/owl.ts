/**
 * OWL (Yin et al. 2023, "Outlier Weighed Layerwise Sparsity"): layers with more outlier
 * features keep more weights. A layer's outlier ratio D_l is the fraction of its Wanda scores
 * |W_ij| * ||X_j|| above M times the layer's mean score (M = 5); the ratios are scaled linearly
 * into a band of width 2*lambda (lambda = 0.08) and centred so the layers' sparsities average
 * to the target (reference code, lib/prune_all.py: prune_wanda_outlier). Masks then come from
 * Wanda or SparseGPT at each layer's own sparsity.
 */
import { PruneError } from "../errors.ts";
import { checkSparsity } from "../rounding.ts";
import type { MaskSet, PruneMethod, PruneTarget } from "../types.ts";
import { asCalibration, denseInputStats, targetInputs } from "./calibration.ts";
import { layerGroups, parseSparseGptOptions, sparseGptMasks, type SparseGptMethodOptions } from "./sparsegpt.ts";
import { wandaMasks } from "./wanda.ts";

export interface OwlOptions {
  base: "wanda" | "sparsegpt";
  /** Outlier threshold as a multiple of the layer's mean score. */
  m: number;
  lambda: number;
  sparsegpt: SparseGptMethodOptions;
}

/** Fraction of scores |w| * ||x|| above m times their mean, over all the layer's matrices. */
export function outlierRatio(targets: readonly PruneTarget[], sqnorms: ReadonlyMap<string, Float64Array>, m: number): number {
  const scores: Float64Array[] = [];
  let sum = 0;
  let n = 0;
  for (const t of targets) {
    const sq = sqnorms.get(t.name)!;
    const [rows, cols] = t.shape;
    const s = new Float64Array(t.count);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) {
        const norm = Math.sqrt(t.layout === "out_in" ? sq[c] : sq[r]);
        const v = Math.abs(t.weights[r * cols + c]) * norm;
        s[r * cols + c] = v;
        sum += v;
      }
    n += t.count;
    scores.push(s);
  }
  const threshold = (m * sum) / n;
  let above = 0;
  for (const s of scores) for (const v of s) if (v > threshold) above++;
  return above / n;
}

/**
 * Layer sparsities from outlier ratios: ratios min-max scaled to [0, 2*lambda], centred on the
 * target's keep ratio, so the mean sparsity is the target; a higher ratio gives a lower sparsity.
 */
export function owlSparsities(ratios: readonly number[], target: number, lambda: number): number[] {
  checkSparsity(target);
  if (ratios.length === 0) return [];
  const lo = Math.min(...ratios);
  const hi = Math.max(...ratios);
  const scaled = ratios.map((r) => (hi > lo ? ((r - lo) / (hi - lo)) * 2 * lambda : lambda));
  const mean = scaled.reduce((a, b) => a + b, 0) / scaled.length;
  const sparsities = scaled.map((s) => 1 - (s - mean + (1 - target)));
  for (const s of sparsities) if (s < 0 || s >= 1) throw new PruneError(`owl: lambda ${lambda} around sparsity ${target} gives a layer sparsity of ${s.toFixed(4)}, outside [0, 1) (lower lambda)`);
  return sparsities;
}

export function parseOwlOptions(raw: Record<string, unknown>): OwlOptions {
  const { base = "wanda", m = 5, lambda = 0.08, ...rest } = raw;
  if (base !== "wanda" && base !== "sparsegpt") throw new PruneError(`owl option base: ${JSON.stringify(base)} is not "wanda" or "sparsegpt"`);
  const M = Number(m);
  const L = Number(lambda);
  if (!Number.isFinite(M) || M <= 0) throw new PruneError(`owl option m: ${String(m)} is not a positive number`);
  if (!Number.isFinite(L) || L < 0 || L >= 0.5) throw new PruneError(`owl option lambda: ${String(lambda)} is outside [0, 0.5)`);
  if ("nm" in rest || "pattern" in rest) throw new PruneError("owl: N:M patterns fix every layer's sparsity; OWL allocates unstructured sparsity");
  return { base, m: M, lambda: L, sparsegpt: parseSparseGptOptions(rest as Record<string, unknown>, "owl") };
}

export const owl: PruneMethod<OwlOptions> = {
  name: "owl",
  description: "per-layer sparsity from outlier ratios (Yin et al. 2023, M = 5, lambda = 0.08) over wanda or sparsegpt (base)",
  scope: "row",
  calibrated: true,
  updatesWeights: true,
  optionKey: "base",
  parseOptions: parseOwlOptions,
  // Wanda is the default base, and its runs keep the plain name.
  runIdParts: (raw) => (raw.base === "sparsegpt" ? ["sparsegpt"] : []),
  describeOptions: (o) => ({ base: o.base, m: o.m, lambda: o.lambda }),
  async selectMasks(targets, { sparsity, options }, context): Promise<MaskSet> {
    const calibration = asCalibration(context.calibration, "owl");
    const inputOf = targetInputs(context.model, targets);
    const sizes = new Map<string, number>();
    for (const t of targets) sizes.set(inputOf.get(t.name)!, t.layout === "out_in" ? t.shape[1] : t.shape[0]);
    const stats = await denseInputStats(context.model, sizes, "sqnorm", calibration, context.log);
    const sqnorms = new Map(targets.map((t) => [t.name, stats.get(inputOf.get(t.name)!)!.values]));
    const layers = layerGroups(targets).filter((g) => g[0].info.layer !== null);
    const ratios = layers.map((g) => outlierRatio(g, sqnorms, options.m));
    const allocated = owlSparsities(ratios, sparsity, options.lambda);
    const sparsityOf = new Map<string, number>();
    layers.forEach((g, i) => g.forEach((t) => sparsityOf.set(t.name, allocated[i])));
    context.log(`owl: layer sparsities ${allocated.map((s) => s.toFixed(3)).join(" ")} (outlier ratios ${ratios.map((r) => (100 * r).toFixed(2)).join(" ")}%)`);
    const of = (t: PruneTarget) => sparsityOf.get(t.name) ?? sparsity;
    if (options.base === "sparsegpt") return sparseGptMasks(targets, of, options.sparsegpt, context, calibration);
    const masks: MaskSet = new Map();
    for (const t of targets) for (const [name, mask] of wandaMasks([t], sqnorms, of(t))) masks.set(name, mask);
    return masks;
  },
};
