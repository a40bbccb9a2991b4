import type { MethodSpec } from "../config/schema.ts";
import { PruneError } from "./errors.ts";
import { getMethod } from "./registry.ts";
import type { PruneResult } from "./result.ts";

/**
 * A config's method entry ("magnitude", { magnitude: { scope: global } }, { nm: "2:4" }) as the
 * method name and raw options the engine takes. A single value is the method's `optionKey`
 * option: the N:M pattern, magnitude's scope.
 */
export function methodFromSpec(spec: MethodSpec, where = "prune.methods"): { method: string; options: Record<string, unknown> } {
  if (typeof spec === "string") return { method: getMethod(spec).name, options: {} };
  const [name, value] = Object.entries(spec)[0] ?? [];
  if (!name) throw new PruneError(`${where}: a method map needs one key, the method's name`);
  const method = getMethod(name);
  if (value === null || value === undefined) return { method: name, options: {} };
  if (typeof value === "object") return { method: name, options: value as Record<string, unknown> };
  if (!method.optionKey) throw new PruneError(`${where}: ${name} takes its options as a map ({ ${name}: { <option>: <value> } }), not ${JSON.stringify(value)}`);
  return { method: name, options: { [method.optionKey]: value } };
}

/**
 * A config's method entry, its options parsed by the method itself: the same parser, and so the
 * same messages, as `prunebench prune` (preflight calls this for every entry before any work).
 */
export function parseMethodSpec(spec: MethodSpec, where: string): { method: string; options: Record<string, unknown>; parsed: unknown } {
  const { method, options } = methodFromSpec(spec, where);
  return { method, options, parsed: getMethod(method).parseOptions(options) };
}

/**
 * The stable key of a run (Run.id): the name, the parts the method's options add, and the
 * sparsity: "magnitude@0.5", "magnitude:global@0.7", "nm:2:4@0.5", "random:seed=3@0.5".
 */
export function runId(result: Pick<PruneResult, "method" | "options" | "sparsity">): string {
  const parts = getMethod(result.method).runIdParts?.(result.options) ?? [];
  return `${[result.method, ...parts].join(":")}@${Number(result.sparsity.toFixed(6))}`;
}
