import { PruneError } from "../errors.ts";
import { prunedCount } from "../rounding.ts";
import { masksFromSelection, selectSmallest } from "../select.ts";
import type { MaskSet, PruneMethod, PruneTarget } from "../types.ts";

export interface RandomOptions {
  /** Overrides the run's seed. */
  seed?: number;
}

/**
 * The murmur3 finaliser: a bijection on 32-bit integers that mixes every input bit into every
 * output bit. Keys fmix32(i * odd ^ s) are distinct within a tensor, so there are no ties.
 */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function stringHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Random keys that depend only on the seed, the tensor's name and the index, so a tensor's
 * mask does not change when other tensors join or leave the target list.
 */
export function randomKeys(seed: number, name: string, n: number): Uint32Array {
  const s = fmix32((seed >>> 0) ^ stringHash(name) ^ Math.floor(seed / 2 ** 32));
  const keys = new Uint32Array(n);
  for (let i = 0; i < n; i++) keys[i] = fmix32(Math.imul(i, 0x9e3779b1) ^ s);
  return keys;
}

/** round(s*n) weights of each matrix chosen uniformly at random (torch random_unstructured). */
export function randomMasks(targets: readonly PruneTarget[], sparsity: number, seed: number): MaskSet {
  const masks: MaskSet = new Map();
  for (const t of targets) {
    const source = { name: t.name, keys: randomKeys(seed, t.name, t.count) };
    const selection = selectSmallest([source], prunedCount(sparsity, t.count), { abs: false });
    masks.set(t.name, masksFromSelection([source], selection, { abs: false })[0]);
  }
  return masks;
}

export const random: PruneMethod<RandomOptions> = {
  name: "random",
  description: "round(s*n) random weights per matrix, seeded (a baseline)",
  scope: "matrix",
  calibrated: false,
  parseOptions: (raw) => {
    for (const key of Object.keys(raw)) if (key !== "seed") throw new PruneError(`random: unknown option ${JSON.stringify(key)} (known: seed)`);
    if (raw.seed !== undefined && !Number.isSafeInteger(raw.seed)) throw new PruneError(`random option seed: ${JSON.stringify(raw.seed)} is not an integer`);
    return raw.seed === undefined ? {} : { seed: raw.seed as number };
  },
  runIdParts: (raw) => (raw.seed === undefined ? [] : [`seed=${String(raw.seed)}`]),
  describeOptions: (o) => (o.seed === undefined ? {} : { seed: o.seed }),
  selectMasks: (targets, { sparsity, options }, context) => randomMasks(targets, sparsity, options.seed ?? context.seed),
};

