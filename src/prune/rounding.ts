import { PruneError } from "./errors.ts";

/**
 * How many of n weights a sparsity zeroes. torch.nn.utils.prune uses Python's round(), which
 * rounds halves to even (prune.py, _compute_nparams_toprune); so does this, so counts match.
 */
export function prunedCount(sparsity: number, n: number): number {
  const x = sparsity * n;
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export function checkSparsity(sparsity: number, where = "sparsity"): void {
  if (!Number.isFinite(sparsity) || sparsity < 0 || sparsity >= 1) {
    throw new PruneError(`${where} ${sparsity} is outside [0, 1): 0 keeps every weight, values near 1 keep few`);
  }
}
