/**
 * The budget search: the highest sparsity whose perplexity increase over dense stays within a
 * budget. For mask methods the increase grows with sparsity (a higher sparsity's mask holds a
 * lower one's zeros, for magnitude exactly and for the calibrated methods in practice), so a
 * bisection over a grid of `tolerance` steps finds it: points already measured (the sweep's)
 * narrow the first bracket, and each evaluation halves it until the bracket's ends are
 * neighbours on the grid. From [0, 1) at a 1% tolerance that is at most 7 evaluations.
 */
import type { z } from "zod";
import { BudgetSchema, relative } from "../config/schema.ts";
import { PruneError } from "./errors.ts";

/** What a budget search is asked: the allowed increase over dense and the grid step. */
export interface BudgetRequest {
  /** Largest relative increase allowed: 0.02 is +2%. */
  maxIncrease: number;
  /** Grid step and width of the final bracket, e.g. 0.01. */
  tolerance: number;
}

/**
 * The request of a config's prune.budget, or of `prunebench prune --budget --tolerance` (the
 * flags as its fields): the schema's defaults apply to both.
 */
export function budgetRequest(fields: z.input<typeof BudgetSchema>): BudgetRequest {
  const budget = BudgetSchema.parse(fields);
  return { maxIncrease: relative(budget.max_increase), tolerance: budget.tolerance };
}

/** One measured point: its sparsity, its relative increase over dense, and the run it came from. */
export interface BudgetPoint {
  sparsity: number;
  increase: number;
  run: string;
}

export interface BudgetSearchOptions extends BudgetRequest {
  /** Points measured already (a sweep's); reused, never evaluated again. */
  known?: readonly BudgetPoint[];
  /** Measures one sparsity (a point on the grid, in (0, 1)). */
  evaluate: (sparsity: number) => Promise<BudgetPoint>;
  /** Called after each evaluation with the bracket so far (progress lines). */
  onPoint?: (point: BudgetPoint, bracket: { within: BudgetPoint; beyond: BudgetPoint | null }) => void;
}

export interface BudgetSearch {
  /** Highest sparsity measured within the budget; dense (0) when every pruned point exceeded it. */
  within: BudgetPoint;
  /** Lowest sparsity measured beyond the budget above `within`; null when none was (the grid ran out below 1). */
  beyond: BudgetPoint | null;
  /** Every point the search looked at, by sparsity: the reused ones and the evaluated ones. */
  points: BudgetPoint[];
  /** Points this search evaluated. */
  evaluations: number;
  /** Known points it used instead. */
  reused: number;
}

/** The most evaluations a search from [0, 1) needs at this tolerance: log2 of the grid's size. */
export function maxBudgetEvaluations(tolerance: number): number {
  return Math.ceil(Math.log2(Math.ceil(1 / tolerance - 1e-9)));
}

const DENSE: BudgetPoint = { sparsity: 0, increase: 0, run: "dense" };

/** The grid index at or next below/above x: snapped when x lies on the grid up to rounding. */
function gridIndex(x: number, tolerance: number, direction: "floor" | "ceil"): number {
  const k = x / tolerance;
  const nearest = Math.round(k);
  if (Math.abs(k - nearest) < 1e-6) return nearest;
  return direction === "floor" ? Math.floor(k) : Math.ceil(k);
}

export async function searchBudget(options: BudgetSearchOptions): Promise<BudgetSearch> {
  const { maxIncrease, tolerance } = options;
  if (!(maxIncrease >= 0)) throw new PruneError(`budget: max_increase ${maxIncrease} is not a non-negative number`);
  if (!(tolerance > 0 && tolerance < 0.5)) throw new PruneError(`budget: tolerance ${tolerance} is outside (0, 0.5)`);
  const points = new Map<number, BudgetPoint>();
  for (const p of options.known ?? []) if (p.sparsity > 0 && p.sparsity < 1 && Number.isFinite(p.increase)) points.set(p.sparsity, p);
  const inside = (p: BudgetPoint) => p.increase <= maxIncrease;
  // The bracket from what is known: the lowest point beyond, and the highest point within below it.
  const bracket = () => {
    const sorted = [...points.values()].sort((a, b) => a.sparsity - b.sparsity);
    const beyond = sorted.find((p) => !inside(p)) ?? null;
    const within = sorted.filter((p) => inside(p) && (!beyond || p.sparsity < beyond.sparsity)).pop() ?? DENSE;
    return { within, beyond };
  };
  const evaluated = new Set<string>();
  // Known points that were an end of the bracket at some step: the evaluations they saved.
  const reusedRuns = new Set<string>();
  const note = (b: { within: BudgetPoint; beyond: BudgetPoint | null }) => {
    for (const p of [b.within, b.beyond]) if (p && p.run !== "dense" && !evaluated.has(p.run)) reusedRuns.add(p.run);
  };
  let used = bracket();
  note(used);
  const lastIndex = gridIndex(1, tolerance, "ceil") - 1;
  for (;;) {
    const lo = gridIndex(used.within.sparsity, tolerance, "floor") + 1;
    const hi = used.beyond ? gridIndex(used.beyond.sparsity, tolerance, "ceil") - 1 : lastIndex;
    if (lo > hi) break;
    const upper = used.beyond?.sparsity ?? 1;
    const mid = Math.min(hi, Math.max(lo, Math.round((used.within.sparsity + upper) / 2 / tolerance)));
    const sparsity = Number((mid * tolerance).toFixed(10));
    const point = await options.evaluate(sparsity);
    evaluated.add(point.run);
    points.set(sparsity, { ...point, sparsity });
    used = bracket();
    note(used);
    options.onPoint?.(point, used);
  }
  const measured = [...points.values()].filter((p) => evaluated.has(p.run) || reusedRuns.has(p.run)).sort((a, b) => a.sparsity - b.sparsity);
  return { within: used.within, beyond: used.beyond, points: measured, evaluations: evaluated.size, reused: reusedRuns.size };
}

/** Sparsities and increases in log lines: "47%", "+1.72%". */
export function budgetPercent(x: number, sign = false): string {
  return `${sign && x >= 0 ? "+" : ""}${Number((x * 100).toFixed(2))}%`;
}

/** The progress line of one evaluated point: "47% gives +1.72% (bracket 47%..48%)". */
export function budgetPointLine(point: BudgetPoint, bracket: { within: BudgetPoint; beyond: BudgetPoint | null }): string {
  return `${budgetPercent(point.sparsity)} gives ${budgetPercent(point.increase, true)} (bracket ${budgetPercent(bracket.within.sparsity)}..${bracket.beyond ? budgetPercent(bracket.beyond.sparsity) : "100%"})`;
}

/** The closing line of a search: "47% within +2% perplexity (bracket 47% (+1.72%)..48% (+2.04%), 5 evaluations, 2 reused)". */
export function budgetSummaryLine(search: BudgetSearch, maxIncrease: number): string {
  const end = (p: BudgetPoint | null) => (p ? `${budgetPercent(p.sparsity)} (${budgetPercent(p.increase, true)})` : "100%");
  return (
    `${budgetPercent(search.within.sparsity)} within ${budgetPercent(maxIncrease, true)} perplexity ` +
    `(bracket ${end(search.within)}..${end(search.beyond)}, ${search.evaluations} evaluations${search.reused ? `, ${search.reused} reused` : ""})`
  );
}
