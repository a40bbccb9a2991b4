import { PruneError } from "../errors.ts";
import { prunedCount } from "../rounding.ts";
import { floatKeys, masksFromSelection, selectSmallest, type KeySource } from "../select.ts";
import type { MaskSet, PruneMethod, PruneTarget } from "../types.ts";

export interface MagnitudeOptions {
  scope: "matrix" | "global";
}

/** Per matrix, as torch.nn.utils.prune.l1_unstructured: round(s*n) smallest |w| of each tensor. */
export function magnitudeMasks(targets: readonly PruneTarget[], sparsity: number): MaskSet {
  const masks: MaskSet = new Map();
  for (const t of targets) {
    const source: KeySource = { name: t.name, keys: floatKeys(t.weights) };
    const selection = selectSmallest([source], prunedCount(sparsity, t.count), { abs: true });
    masks.set(t.name, masksFromSelection([source], selection, { abs: true })[0]);
  }
  return masks;
}

/**
 * One threshold over all targets, as torch.nn.utils.prune.global_unstructured: round(s*N) of
 * the N target weights, smallest |w| first, wherever they are.
 */
export function globalMagnitudeMasks(targets: readonly PruneTarget[], sparsity: number): { masks: MaskSet; threshold: number } {
  const sources = targets.map((t) => ({ name: t.name, keys: floatKeys(t.weights) }));
  const total = targets.reduce((n, t) => n + t.count, 0);
  const selection = selectSmallest(sources, prunedCount(sparsity, total), { abs: true });
  const list = masksFromSelection(sources, selection, { abs: true });
  const masks: MaskSet = new Map(targets.map((t, i) => [t.name, list[i]]));
  return { masks, threshold: selection.threshold };
}

function parseScope(raw: Record<string, unknown>, fallback: "matrix" | "global"): MagnitudeOptions {
  const scope = raw.scope ?? fallback;
  if (scope !== "matrix" && scope !== "global") {
    throw new PruneError(`magnitude option scope: ${JSON.stringify(scope)} is not "matrix" or "global"`);
  }
  for (const key of Object.keys(raw)) if (key !== "scope") throw new PruneError(`magnitude: unknown option ${JSON.stringify(key)} (known: scope)`);
  return { scope };
}

function select(targets: PruneTarget[], sparsity: number, scope: "matrix" | "global"): MaskSet {
  return scope === "global" ? globalMagnitudeMasks(targets, sparsity).masks : magnitudeMasks(targets, sparsity);
}

export const magnitude: PruneMethod<MagnitudeOptions> = {
  name: "magnitude",
  description: "smallest |w| per matrix (torch l1_unstructured); scope: global for one threshold over all targets",
  scope: "matrix",
  calibrated: false,
  optionKey: "scope",
  parseOptions: (raw) => parseScope(raw, "matrix"),
  runIdParts: (raw) => (raw.scope === "global" ? ["global"] : []),
  describeOptions: (o) => ({ scope: o.scope }),
  selectMasks: (targets, { sparsity, options }) => select(targets, sparsity, options.scope),
};

export const globalMagnitude: PruneMethod<MagnitudeOptions> = {
  name: "global",
  description: "smallest |w| over all targets together (torch global_unstructured)",
  scope: "global",
  calibrated: false,
  optionKey: "scope",
  parseOptions: (raw) => {
    const options = parseScope(raw, "global");
    if (options.scope !== "global") throw new PruneError(`global: scope must be "global" (use method magnitude for per-matrix)`);
    return options;
  },
  selectMasks: (targets, { sparsity }) => select(targets, sparsity, "global"),
};

