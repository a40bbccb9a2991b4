import { owl } from "./calibrated/owl.ts";
import { sparsegpt } from "./calibrated/sparsegpt.ts";
import { wanda } from "./calibrated/wanda.ts";
import { PruneError } from "./errors.ts";
import { globalMagnitude, magnitude } from "./methods/magnitude.ts";
import { nm } from "./methods/nm.ts";
import { random } from "./methods/random.ts";
import { structured } from "./structured/method.ts";
import type { AnyMethod, PruneMethod } from "./types.ts";

/**
 * Every pruning method, in the order help texts and the config's JSON Schema list them. A new
 * method is one file and one entry here; the config's method names, the CLI's --method list
 * and run ids all come from this list.
 */
const METHODS: readonly AnyMethod[] = [magnitude, globalMagnitude, random, nm, wanda, sparsegpt, owl, structured] as AnyMethod[];

const BY_NAME = new Map<string, AnyMethod>();
for (const method of METHODS) {
  if (BY_NAME.has(method.name)) throw new Error(`pruning method ${JSON.stringify(method.name)} is listed twice`);
  BY_NAME.set(method.name, method);
}

/** The method names, for the config schema's enum (zod wants a non-empty tuple). */
export const METHOD_NAMES = METHODS.map((m) => m.name) as [string, ...string[]];

/** The names of the mask methods (every method but the graph rewrites). */
export const MASK_METHOD_NAMES = METHODS.filter((m) => !m.rewritesGraph).map((m) => m.name) as [string, ...string[]];

export function getMethod(name: string): AnyMethod {
  const method = BY_NAME.get(name);
  if (!method) throw new PruneError(`unknown pruning method ${JSON.stringify(name)}; known: ${METHOD_NAMES.join(", ")}`);
  return method;
}

/** A method that chooses masks; a graph rewrite (structured) is refused by name. */
export function getMaskMethod(name: string): PruneMethod<unknown> {
  const method = getMethod(name);
  if (method.rewritesGraph) throw new PruneError(`${name} rewrites the graph and chooses no masks; this needs a mask method (${MASK_METHOD_NAMES.join(", ")})`);
  return method;
}

export function listMethods(): readonly AnyMethod[] {
  return METHODS;
}
