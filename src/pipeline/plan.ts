import type { Config } from "../config/schema.ts";
import { getMethod } from "../prune/registry.ts";
import { parseMethodSpec, runId } from "../prune/spec.ts";

/** One (method, options, sparsity) point of a config's pruning sweep. */
export interface PlannedRun {
  /** Stable key used in results and stage names, e.g. "magnitude@0.5", "nm:2:4@0.5". */
  id: string;
  method: string;
  options: Record<string, unknown>;
  sparsity: number;
  /** The method fixes its sparsity (N:M): one run whatever the sweep's list says. */
  fixedSparsity: boolean;
}

/**
 * The sweep of a config: every method at every sparsity, except methods whose options fix the
 * sparsity (N:M), which run once. Order is the config's, so reports read as written.
 */
export function planRuns(config: Config): PlannedRun[] {
  const runs: PlannedRun[] = [];
  const seen = new Set<string>();
  config.prune.methods.forEach((spec, i) => {
    const { method, options, parsed } = parseMethodSpec(spec, `prune.methods[${i}]`);
    const implied = getMethod(method).impliedSparsity?.(parsed) ?? null;
    const sparsities = implied === null ? config.prune.sparsity : [implied];
    for (const sparsity of sparsities) {
      const id = runId({ method, options, sparsity });
      if (seen.has(id)) continue;
      seen.add(id);
      runs.push({ id, method, options, sparsity, fixedSparsity: implied !== null });
    }
  });
  return runs;
}
