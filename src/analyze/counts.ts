import type { ParamInfo } from "../models/types.ts";
import { isFloatType } from "../onnx/dtype.ts";

/**
 * The study counted parameters the way torch's num_parameters() does on the base model
 * (BertModel with its pooler, GPT2Model, PegasusModel): task heads left out, a tied
 * embedding once. Integer initializers (shape constants) are not parameters.
 */
export const CONVENTION =
  "base model (task heads such as the LM head, the MLM transform and biases left out; BERT's pooler kept), tied weights counted once, float initializers only";

export function isParameter(p: ParamInfo): boolean {
  return isFloatType(p.dataType) && p.duplicateOf === undefined;
}

/**
 * Task heads sit on top of the base model; the pooler is part of BertModel and stays. The map
 * gives the pooler's weight role "pooler" and its bias role "bias", so the bias is known by the
 * name Hugging Face gives it.
 */
export function isPooler(p: ParamInfo): boolean {
  return p.role === "pooler" || /(^|\.)pooler\.dense\.bias$/.test(p.name);
}

export function isHead(p: ParamInfo): boolean {
  if (isPooler(p)) return false;
  return p.block === "head" || p.role === "lm_head" || p.role === "head_transform";
}

export function isCounted(p: ParamInfo): boolean {
  return isParameter(p) && !isHead(p);
}

export interface ParamCounts {
  total: number;
  stored: number;
  withHeads: number;
  byPart: Record<string, number>;
  byBlock: Record<string, number>;
  byRole: Record<string, number>;
  prunable: number;
}

export function countParams(params: readonly ParamInfo[]): ParamCounts {
  const counts: ParamCounts = { total: 0, stored: 0, withHeads: 0, byPart: {}, byBlock: {}, byRole: {}, prunable: 0 };
  const add = (record: Record<string, number>, key: string, n: number) => {
    record[key] = (record[key] ?? 0) + n;
  };
  for (const p of params) {
    if (!isFloatType(p.dataType)) continue;
    counts.stored += p.count;
    if (!isParameter(p)) continue;
    counts.withHeads += p.count;
    if (!isCounted(p)) continue;
    counts.total += p.count;
    add(counts.byPart, p.part, p.count);
    add(counts.byBlock, p.block, p.count);
    add(counts.byRole, p.role, p.count);
    if (p.prunable) counts.prunable += p.count;
  }
  return counts;
}
