import type { Perplexity } from "../../results/schema.ts";
import type { PerplexityThresholds } from "../types.ts";

export interface PerplexityVerdict {
  state: "regression" | "improvement" | "no-change" | "inconclusive" | "not-comparable";
  change: number;
  reason: string;
}

/**
 * Perplexity at a fixed seed is deterministic on one provider, so a tolerance is enough:
 * a change counts when it exceeds both the relative and the absolute tolerance (the
 * absolute one keeps tiny perplexities from flagging float noise).
 */
export function comparePerplexity(base: Perplexity, head: Perplexity, t: PerplexityThresholds): PerplexityVerdict {
  const change = head.token / base.token - 1;
  for (const field of ["dataset", "protocol", "seqLen", "stride"] as const) {
    if (base[field] !== head[field]) {
      return { state: "not-comparable", change, reason: `${field} differs (${String(base[field])} vs ${String(head[field])})` };
    }
  }
  if (base.partial || head.partial) {
    return { state: "inconclusive", change, reason: `${base.partial ? "base" : "head"} evaluation stopped early` };
  }
  const allowed = Math.max(t.relative * base.token, t.absolute);
  const diff = head.token - base.token;
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  if (diff > allowed) return { state: "regression", change, reason: `+${pct(change)}, above the ${pct(t.relative)} tolerance` };
  if (-diff > allowed) return { state: "improvement", change, reason: `${pct(change)}, beyond the ${pct(t.relative)} tolerance` };
  return { state: "no-change", change, reason: `within max(${pct(t.relative)}, ${t.absolute})` };
}
