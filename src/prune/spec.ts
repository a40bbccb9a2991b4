import type { MethodSpec } from "../config/schema.ts";
import { PruneError } from "./errors.ts";
import { getMethod } from "./registry.ts";
import type { PruneResult } from "./result.ts";

/**
 * A config's method entry ("magnitude", { magnitude: { scope: global } }, { nm: "2:4" }) as the
 * method name and raw options the engine takes. A string value is the method's main option:
 * the N:M pattern, or magnitude's scope.
 */
export function methodFromSpec(spec: MethodSpec, where = "prune.methods"): { method: string; options: Record<string, unknown> } {
  if (typeof spec === "string") return { method: spec, options: {} };
  const [name, value] = Object.entries(spec)[0] ?? [];
  if (!name) throw new PruneError(`${where}: a method map needs one key, the method's name`);
  getMethod(name);
  if (value === null || value === undefined) return { method: name, options: {} };
  if (typeof value === "string") return { method: name, options: name === "nm" ? { pattern: value } : { scope: value } };
  return { method: name, options: value };
}

/** The stable key of a run (Run.id): "magnitude@0.5", "global@0.7", "nm:2:4@0.5", "random:seed=3@0.5". */
export function runId(result: Pick<PruneResult, "method" | "options" | "sparsity">): string {
  const o = result.options;
  let id = result.method;
  if (typeof o.pattern === "string") id += `:${o.pattern}`;
  if (result.method === "magnitude" && o.scope === "global") id += ":global";
  if (o.seed !== undefined) id += `:seed=${String(o.seed)}`;
  return `${id}@${Number(result.sparsity.toFixed(6))}`;
}
