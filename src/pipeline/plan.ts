import type { Config, MethodSpec } from "../config/schema.ts";
import { PruneError } from "../prune/errors.ts";
import { getMethod } from "../prune/registry.ts";
import { parseStructuredOptions } from "../prune/structured/structured.ts";
import { methodFromSpec, runId } from "../prune/spec.ts";
import "../prune/methods/index.ts";
import "../prune/calibrated/index.ts";

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

/** `structured` or `{ structured: { heads_count } }`: options checked here, as mask methods' are by their parsers. */
function structuredSpec(spec: MethodSpec, where: string): { method: string; options: Record<string, unknown> } | null {
  if (spec === "structured") return { method: "structured", options: {} };
  if (typeof spec !== "object" || !("structured" in spec)) return null;
  const value = spec.structured;
  if (value !== null && (typeof value !== "object" || value === undefined)) throw new PruneError(`${where}.structured: expected a map of options ({ heads_count: <n> })`);
  const options = value ?? {};
  parseStructuredOptions(options, `${where}.structured`);
  return { method: "structured", options };
}

/**
 * A config's method entry, its options parsed by the method itself: the same parser, and so the
 * same messages, as `prunebench prune` (preflight calls this for every entry before any work).
 */
export function parseMethodSpec(spec: MethodSpec, where: string): { method: string; options: Record<string, unknown>; parsed: unknown } {
  const structured = structuredSpec(spec, where);
  if (structured) return { ...structured, parsed: structured.options };
  const { method, options } = methodFromSpec(spec, where);
  return { method, options, parsed: getMethod(method).parseOptions(options) };
}

/**
 * The sweep of a config: every method at every sparsity, except methods whose options fix the
 * sparsity (N:M), which run once. Order is the config's, so reports read as written.
 */
export function planRuns(config: Config): PlannedRun[] {
  const runs: PlannedRun[] = [];
  const seen = new Set<string>();
  config.prune.methods.forEach((spec, i) => {
    // Structured pruning rewrites the graph instead of masking weights: it is no mask method.
    const { method, options, parsed } = parseMethodSpec(spec, `prune.methods[${i}]`);
    const impl = method === "structured" ? undefined : getMethod(method);
    const implied = impl?.impliedSparsity?.(parsed) ?? null;
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
