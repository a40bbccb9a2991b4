import type { BudgetSearchRecord, Result } from "../results/schema.ts";
import { fmtPercent } from "./format.ts";
import type { Comparison, Thresholds } from "./types.ts";

const DISPLAY: Record<string, string> = { sparsegpt: "SparseGPT", wanda: "Wanda", owl: "OWL" };

/** How the report names a search: "SparseGPT", "magnitude:global", "magnitude, allocated per layer", "+ fine-tune". */
export function searchName(s: Pick<BudgetSearchRecord, "label" | "method" | "allocation" | "finetuned">): string {
  const label = s.allocation === "sensitivity" ? `${DISPLAY[s.method] ?? s.method}, allocated per layer` : s.label === s.method ? (DISPLAY[s.method] ?? s.method) : s.label;
  return `${label}${s.finetuned ? " + fine-tune" : ""}`;
}

/** The budget in words: "+2% perplexity". */
export function budgetKey(b: NonNullable<Result["budget"]>): string {
  return `+${Number((b.maxIncrease * 100).toFixed(2))}% ${b.metric}`;
}

function searchKey(s: BudgetSearchRecord): string {
  return `${s.label}\u0000${s.finetuned}\u0000${s.allocation}`;
}

/**
 * The reach of each budget search against the base's search of the same method: a fall by more
 * than the threshold (default: the head config's regression.reach) is a regression of its own,
 * "SparseGPT's reach fell from 47% to 39%". Different budgets, or perplexity measured on other
 * providers, are not compared.
 */
export function compareReach(head: Result, base: Result, thresholds: Thresholds): Comparison[] {
  if (!head.budget || !base.budget) return [];
  const hb = head.budget;
  const bb = base.budget;
  const baseSearches = new Map(bb.searches.map((s) => [searchKey(s), s]));
  const threshold = thresholds.reach.absolute ?? hb.reachTolerance;
  const out: Comparison[] = [];
  for (const s of hb.searches) {
    const other = baseSearches.get(searchKey(s));
    if (!other || s.error || other.error) continue;
    const name = searchName(s);
    const common = { model: head.model, runId: name, metric: "reach" as const, key: budgetKey(hb), base: other.within.sparsity, head: s.within.sparsity, change: s.within.sparsity - other.within.sparsity };
    if (bb.maxIncrease !== hb.maxIncrease || bb.metric !== hb.metric) {
      out.push({ ...common, state: "not-comparable", change: null, reason: `the budget differs (${budgetKey(bb)} vs ${budgetKey(hb)})` });
      continue;
    }
    if (head.runner.provider !== base.runner.provider) {
      out.push({ ...common, state: "not-comparable", change: null, reason: `provider differs (${base.runner.provider} vs ${head.runner.provider})` });
      continue;
    }
    const from = fmtPercent(other.within.sparsity);
    const to = fmtPercent(s.within.sparsity);
    const change = common.change;
    const points = `${Number((threshold * 100).toFixed(2))} points`;
    const limit = `beyond ${points}`;
    if (change < -threshold - 1e-9) out.push({ ...common, state: "regression", reason: `${name}'s reach fell from ${from} to ${to} within ${budgetKey(hb)} (${limit})` });
    else if (change > threshold + 1e-9) out.push({ ...common, state: "improvement", reason: `${name}'s reach rose from ${from} to ${to} within ${budgetKey(hb)} (${limit})` });
    else out.push({ ...common, state: "no-change", reason: `${name}'s reach ${from} to ${to} within ${budgetKey(hb)} (within ${points})` });
  }
  return out;
}
