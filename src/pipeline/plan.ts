import type { Config, MethodSpec } from "../config/schema.ts";
import { getMethod } from "../prune/registry.ts";
import "../prune/methods/index.ts";

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

/** A config method entry as the engine's method name and raw options. */
export function normalizeMethod(spec: MethodSpec, where: string): { method: string; options: Record<string, unknown> } {
  if (typeof spec === "string") return { method: spec, options: {} };
  const [name, raw] = Object.entries(spec)[0]!;
  const options: Record<string, unknown> =
    raw === null || raw === undefined ? {} : typeof raw === "string" ? { pattern: raw } : { ...(raw as Record<string, unknown>) };
  // `{ magnitude: { scope: global } }` is how DESIGN.md writes global magnitude pruning.
  if (name === "magnitude" && options.scope === "global") return { method: "global", options: {} };
  if (!name) throw new Error(`${where}: empty method entry`);
  return { method: name, options };
}

function label(method: string, options: Record<string, unknown>): string {
  const parts = Object.entries(options)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => (k === "pattern" ? String(v) : `${k}=${String(v)}`));
  return parts.length ? `${method}:${parts.join(",")}` : method;
}

/**
 * The sweep of a config: every method at every sparsity, except methods whose options fix the
 * sparsity (N:M), which run once. Order is the config's, so reports read as written.
 */
export function planRuns(config: Config): PlannedRun[] {
  const runs: PlannedRun[] = [];
  const seen = new Set<string>();
  config.prune.methods.forEach((spec, i) => {
    const { method, options } = normalizeMethod(spec, `prune.methods.${i}`);
    const impl = getMethod(method);
    const implied = impl.impliedSparsity?.(impl.parseOptions(options)) ?? null;
    const sparsities = implied === null ? config.prune.sparsity : [implied];
    for (const sparsity of sparsities) {
      const id = `${label(method, options)}@${Number(sparsity.toFixed(4))}`;
      if (seen.has(id)) continue;
      seen.add(id);
      runs.push({ id, method, options, sparsity, fixedSparsity: implied !== null });
    }
  });
  return runs;
}
