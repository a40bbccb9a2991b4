/**
 * Structured pruning as a registered method (src/prune/registry.ts): a graph rewrite, so it
 * writes the model itself and has no mask. The CLI's --heads/--neurons/--heads-count and a
 * config's `{ structured: { heads_count } }` are the same options, parsed here.
 */
import { PruneError } from "../errors.ts";
import { PRUNE_RESULT_VERSION, type PruneResult } from "../result.ts";
import type { GraphMethod } from "../types.ts";
import { pruneStructuredFile } from "./structured.ts";

export interface StructuredMethodOptions {
  /** Fraction of heads removed in each attention block; the run's sparsity when absent. */
  heads?: number;
  /** Fraction of neurons removed in each MLP; the run's sparsity when absent. */
  neurons?: number;
  /** Heads per attention block, for graphs that do not show it. */
  headCount?: number;
}

const KNOWN = ["heads", "neurons", "heads_count"];

export function parseStructuredOptions(raw: Record<string, unknown>): StructuredMethodOptions {
  for (const key of Object.keys(raw)) if (!KNOWN.includes(key)) throw new PruneError(`structured: unknown option ${JSON.stringify(key)} (known: ${KNOWN.join(", ")})`);
  const out: StructuredMethodOptions = {};
  for (const key of ["heads", "neurons"] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v !== "number" || !(v >= 0 && v < 1)) throw new PruneError(`structured option ${key}: ${JSON.stringify(v)} is not a fraction in [0, 1)`);
    out[key] = v;
  }
  if (raw.heads_count !== undefined) {
    const n = raw.heads_count;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) throw new PruneError(`structured option heads_count: ${JSON.stringify(n)} is not a positive integer`);
    out.headCount = n;
  }
  return out;
}

/**
 * Removes the same fraction of heads and of MLP neurons in every layer (each the run's sparsity
 * unless its option fixes it); the result's "achieved sparsity" is the share of parameters removed.
 */
export const structured: GraphMethod<StructuredMethodOptions> = {
  name: "structured",
  description: "whole attention heads and MLP neurons removed by rewriting the graph (the matrices shrink)",
  calibrated: false,
  rewritesGraph: true,
  parseOptions: parseStructuredOptions,
  runIdParts: (raw) => ["heads", "neurons"].filter((k) => raw[k] !== undefined).map((k) => `${k}=${String(raw[k])}`),
  rewriteFile({ input, output, sparsity, options, externalData, log }): PruneResult {
    const start = performance.now();
    const heads = options.heads ?? sparsity ?? 0;
    const neurons = options.neurons ?? sparsity ?? 0;
    const done = pruneStructuredFile({ input, output, heads, neurons, headCount: options.headCount, externalData, log });
    const removed = done.paramsBefore - done.paramsAfter;
    const achievedSparsity = done.paramsBefore > 0 ? removed / done.paramsBefore : 0;
    return {
      schema: PRUNE_RESULT_VERSION,
      model: input,
      output,
      mask: null,
      method: "structured",
      options: { heads, neurons, ...(options.headCount ? { heads_count: options.headCount } : {}) },
      scope: "structure",
      seed: 0,
      sparsity: sparsity ?? achievedSparsity,
      achievedSparsity,
      params: done.paramsBefore,
      pruned: removed,
      zeros: 0,
      maxPrunedMagnitude: null,
      matrices: [],
      blocks: done.blocks,
      seconds: { total: (performance.now() - start) / 1000 },
      warnings: [],
    };
  },
};
