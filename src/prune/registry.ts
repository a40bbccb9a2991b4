import { PruneError } from "./errors.ts";
import type { PruneMethod } from "./types.ts";

/**
 * Methods by name. The built-in magnitude, global, random and N:M methods register in
 * methods/index.ts; calibrated and structured methods register from their own folders.
 */
const METHODS = new Map<string, PruneMethod<unknown>>();

export function registerMethod<O>(method: PruneMethod<O>): void {
  if (METHODS.has(method.name)) throw new Error(`pruning method ${JSON.stringify(method.name)} is registered twice`);
  METHODS.set(method.name, method as PruneMethod<unknown>);
}

export function getMethod(name: string): PruneMethod<unknown> {
  const method = METHODS.get(name);
  if (!method) throw new PruneError(`unknown pruning method ${JSON.stringify(name)}; known: ${[...METHODS.keys()].join(", ")}`);
  return method;
}

export function listMethods(): PruneMethod<unknown>[] {
  return [...METHODS.values()];
}
