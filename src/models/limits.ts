import type { ModelMap } from "./types.ts";

/** A size the model fixes, and the parameter that fixes it (named in messages). */
export interface ModelLimit {
  count: number;
  param: string;
}

export interface ModelLimits {
  /** Rows of the (smallest) learned position table: the longest sequence the model can take. */
  positions?: ModelLimit;
  /** Rows of the token embedding: the largest token id + 1. */
  vocab?: ModelLimit;
}

/**
 * What a model's tables fix: sequence length and vocabulary. Models without a position table
 * (rotary, relative) have no positions limit here; the graph then decides at run time.
 */
export function modelLimits(map: ModelMap): ModelLimits {
  const smallest = (role: string): ModelLimit | undefined =>
    map.params
      .filter((p) => p.role === role && !p.duplicateOf && p.shape.length === 2 && p.shape[0] > 0)
      .map((p) => ({ count: p.shape[0], param: p.name }))
      .sort((a, b) => a.count - b.count)[0];
  return { positions: smallest("position_embedding"), vocab: smallest("token_embedding") };
}

/** The sequence length to use: the one asked for (refused past the model's positions), else the default cut to them. */
export function fitSequenceLength(
  asked: number | undefined,
  fallback: number,
  limits: ModelLimits,
  field: string,
): { seqLen: number; note?: string; error?: string } {
  const max = limits.positions;
  if (asked !== undefined) {
    if (max && asked > max.count) return { seqLen: asked, error: `${field}: ${asked} is past the model's ${max.count} positions (${max.param} has ${max.count} rows); use ${max.count} or less` };
    return { seqLen: asked };
  }
  if (max && fallback > max.count) return { seqLen: max.count, note: `${field}: ${max.count}, the model's positions (${max.param}); the default ${fallback} would not fit` };
  return { seqLen: fallback };
}
