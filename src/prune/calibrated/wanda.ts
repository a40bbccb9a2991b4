/**
 * Wanda (Sun, Liu, Bair, Kolter 2023, "A Simple and Effective Pruning Approach for Large
 * Language Models"): score each weight by |W_ij| * ||X_j||_2, the product of its magnitude and
 * the norm of the input feature it multiplies over the calibration tokens, and prune the
 * lowest scores within each output (the paper's "per output" comparison group, which it found
 * better than per layer for LLMs). With an N:M pattern the comparison is within each group of
 * M consecutive inputs of an output instead.
 */
import { Bitmask } from "../bitmask.ts";
import { PruneError } from "../errors.ts";
import { parseNM, patternPart } from "../methods/nm.ts";
import { prunedCount } from "../rounding.ts";
import type { MaskSet, PruneMethod, PruneTarget } from "../types.ts";
import { asCalibration, denseInputStats, targetInputs } from "./calibration.ts";

export interface WandaOptions {
  /** Keep n of every m consecutive inputs per output instead of a per-output fraction. */
  nm?: { n: number; m: number };
}

/** Element (input i, output o) of a 2-D weight, for both layouts. */
function indexer(t: PruneTarget): { inputs: number; outputs: number; at: (i: number, o: number) => number } {
  if (t.shape.length !== 2) throw new PruneError(`${t.name}: Wanda prunes 2-D matrices, this one has shape [${t.shape.join(", ")}]`);
  const [rows, cols] = t.shape;
  return t.layout === "out_in" ? { inputs: cols, outputs: rows, at: (i, o) => o * cols + i } : { inputs: rows, outputs: cols, at: (i, o) => i * cols + o };
}

/**
 * Wanda's masks from the weights and each input feature's sum of squares over calibration
 * tokens. Ties in score are broken by input index (lower index pruned first), so masks are
 * deterministic.
 */
export function wandaMasks(targets: readonly PruneTarget[], sqnorms: ReadonlyMap<string, Float64Array>, sparsity: number, options: WandaOptions = {}): MaskSet {
  const masks: MaskSet = new Map();
  for (const t of targets) {
    const { inputs, outputs, at } = indexer(t);
    const sq = sqnorms.get(t.name);
    if (!sq || sq.length !== inputs) throw new PruneError(`${t.name}: calibration gave ${sq?.length ?? 0} input norms for ${inputs} inputs`);
    const norm = Float64Array.from(sq, Math.sqrt);
    const mask = Bitmask.full(t.count);
    const groupSize = options.nm ? options.nm.m : inputs;
    if (inputs % groupSize !== 0) throw new PruneError(`${t.name}: ${inputs} inputs do not split into groups of ${groupSize}`);
    const drop = options.nm ? options.nm.m - options.nm.n : prunedCount(sparsity, inputs);
    const scores = new Float64Array(groupSize);
    const order = new Int32Array(groupSize);
    for (let o = 0; o < outputs; o++) {
      for (let g = 0; g < inputs; g += groupSize) {
        for (let j = 0; j < groupSize; j++) {
          const w = t.weights[at(g + j, o)];
          if (Number.isNaN(w)) throw new PruneError(`${t.name}: weight (${g + j}, ${o}) is NaN; Wanda cannot rank it`);
          scores[j] = Math.abs(w) * norm[g + j];
          order[j] = j;
        }
        order.sort((a, b) => scores[a] - scores[b] || a - b);
        for (let j = 0; j < drop; j++) mask.prune(at(g + order[j], o));
      }
    }
    masks.set(t.name, mask);
  }
  return masks;
}

export const wanda: PruneMethod<WandaOptions> = {
  name: "wanda",
  description: "|w| x ||x||_2 per output, from calibration activations (Sun et al. 2023); nm: \"2:4\" for N:M",
  scope: "row",
  calibrated: true,
  optionKey: "nm",
  parseOptions: (raw) => {
    const pattern = raw.nm ?? raw.pattern;
    return pattern === undefined ? {} : { nm: parseNM(pattern, "wanda nm") };
  },
  impliedSparsity: (o) => (o.nm ? (o.nm.m - o.nm.n) / o.nm.m : null),
  runIdParts: patternPart,
  describeOptions: (o) => (o.nm ? { nm: `${o.nm.n}:${o.nm.m}` } : {}),
  async selectMasks(targets, { sparsity, options }, context) {
    const calibration = asCalibration(context.calibration, "wanda");
    const inputOf = targetInputs(context.model, targets);
    const sizes = new Map<string, number>();
    for (const t of targets) sizes.set(inputOf.get(t.name)!, indexer(t).inputs);
    const stats = await denseInputStats(context.model, sizes, "sqnorm", calibration, context.log);
    const sqnorms = new Map(targets.map((t) => [t.name, stats.get(inputOf.get(t.name)!)!.values]));
    return wandaMasks(targets, sqnorms, sparsity, options);
  },
};
