import { readModel } from "../../onnx/model.ts";
import { writeModel } from "../../onnx/write.ts";
import { budgetPointLine, budgetRequest, budgetSummaryLine, searchBudget, type BudgetPoint, type BudgetRequest } from "../../prune/budget.ts";
import { pruneModel } from "../../prune/engine.ts";
import { allocateFromSensitivity } from "../../prune/sensitivity.ts";
import type { PruneResult } from "../../prune/result.ts";
import { getMethod } from "../../prune/registry.ts";
import { runId } from "../../prune/spec.ts";
import { chooseTargets, exactPatterns } from "../../prune/targets.ts";
import type { BudgetResult, BudgetSearchRecord, Result, Run, Sensitivity } from "../../results/schema.ts";
import { RunInterrupted, type RunContext } from "../context.ts";
import { modelFacts } from "../model-facts.ts";
import type { PlannedRun } from "../plan.ts";
import { runRecord } from "../runs.ts";
import { calibrationFor } from "./calibration.ts";
import { evaluateStage } from "./evaluate.ts";
import { finetuneStage } from "./finetune.ts";
import { pruneStage, type PrunedArtifact } from "./prune.ts";

/** What the budget stage needs of the run that calls it: record a finished run (and save). */
export interface BudgetHooks {
  record(run: Run): void;
}

/** The method part of a run id: "magnitude", "magnitude:global", "wanda". */
function labelOf(method: string, options: Record<string, unknown>): string {
  return runId({ method, options, sparsity: 0 }).replace(/@0$/, "");
}

/** Methods the search can move: mask methods whose sparsity the config chooses (not N:M, not graph rewrites). */
export function budgetMethods(plan: readonly PlannedRun[]): { label: string; method: string; options: Record<string, unknown> }[] {
  const out = new Map<string, { label: string; method: string; options: Record<string, unknown> }>();
  for (const p of plan) {
    if (p.fixedSparsity || getMethod(p.method).rewritesGraph) continue;
    const label = labelOf(p.method, p.options);
    if (!out.has(label)) out.set(label, { label, method: p.method, options: p.options });
  }
  return [...out.values()];
}

function increaseOf(run: Run, dense: number): number {
  return run.perplexity!.token / dense - 1;
}

/** The runs of the result that already measured this method (the sweep's, or an earlier search's). */
function knownPoints(result: Result, label: string, finetuned: boolean, dense: number): BudgetPoint[] {
  return result.runs
    .filter((r) => !r.error && r.perplexity && r.finetuned === finetuned && r.id.startsWith(`${label}@`))
    .map((r) => ({ sparsity: r.sparsity, increase: increaseOf(r, dense), run: r.id }));
}

/**
 * One search, its points evaluated by `point`; a failure is recorded in the search and the
 * others go on, as a failed sweep point does.
 */
async function runSearch(
  ctx: RunContext,
  result: Result,
  budget: BudgetRequest,
  what: Omit<BudgetSearchRecord, "within" | "beyond" | "achieved" | "points" | "evaluations" | "reused">,
  known: BudgetPoint[],
  point: (sparsity: number) => Promise<Run>,
): Promise<BudgetSearchRecord> {
  const dense = result.runs[0].perplexity!.token;
  const name = `${what.label}${what.finetuned ? " + fine-tune" : ""}`;
  try {
    const search = await searchBudget({
      ...budget,
      known,
      evaluate: async (sparsity) => {
        if (ctx.stop.requested) throw new RunInterrupted(`budget ${name}`);
        const run = await point(sparsity);
        if (!run.perplexity) throw new Error(`${run.id}: no perplexity measured`);
        return { sparsity, increase: increaseOf(run, dense), run: run.id };
      },
      onPoint: (p, b) => ctx.progress.log(`budget ${name}: ${budgetPointLine(p, b)}`),
    });
    const achieved = result.runs.find((r) => r.id === search.within.run)?.achievedSparsity ?? 0;
    ctx.progress.log(`budget ${name}: ${budgetSummaryLine(search, budget.maxIncrease)}`);
    return { ...what, within: search.within, beyond: search.beyond, achieved, points: search.points, evaluations: search.evaluations, reused: search.reused };
  } catch (error) {
    if (error instanceof RunInterrupted) throw error;
    // Whatever a step cut short by a stop throws is the stop's doing, not a failed search.
    if (ctx.stop.requested) throw new RunInterrupted(`budget ${name}`);
    const message = error instanceof Error ? error.message : String(error);
    ctx.progress.log(`budget ${name} failed: ${message}`);
    const dense0 = { sparsity: 0, increase: 0, run: "dense" };
    return { ...what, within: dense0, beyond: null, achieved: 0, points: [], evaluations: 0, reused: 0, error: message };
  }
}

/** A search point of a uniform search: the sweep's prune stage, then perplexity alone. */
async function uniformPoint(ctx: RunContext, m: { method: string; options: Record<string, unknown> }, sparsity: number, finetuned: boolean, hooks: BudgetHooks): Promise<Run> {
  const planned: PlannedRun = { id: runId({ method: m.method, options: m.options, sparsity }), method: m.method, options: m.options, sparsity, fixedSparsity: false };
  const pruned = await pruneStage(ctx, planned);
  let model = pruned.model;
  let summary;
  if (finetuned) {
    const tuned = await finetuneStage(ctx, planned.id, pruned);
    model = tuned.model;
    summary = tuned.summary;
  }
  const id = finetuned ? `${planned.id}+ft` : planned.id;
  const measures = await evaluateStage(ctx, `eval-search:${id}`, model, id, { latency: false });
  const run = runRecord({ ...planned, id }, pruned.result.achievedSparsity, modelFacts(model, ctx.map.family), measures, finetuned);
  run.seconds.prune = pruned.result.seconds.total ?? 0;
  if (summary) run.finetune = summary;
  run.search = true;
  hooks.record(run);
  return run;
}

/** The config's budget settings as the search takes them. */
function settings(ctx: RunContext): BudgetRequest | undefined {
  const b = ctx.loaded.config.prune.budget;
  return b && budgetRequest(b);
}

/**
 * prune.budget: for each mask method of the sweep the highest sparsity within the budget, on
 * the pruned models and (budget.finetune) on the fine-tuned ones. The sweep's points start the
 * bracket; every point the search adds is a run of the result marked `search`.
 */
export async function budgetStage(ctx: RunContext, plan: readonly PlannedRun[], result: Result, hooks: BudgetHooks): Promise<BudgetResult | undefined> {
  const b = ctx.loaded.config.prune.budget;
  const budget = settings(ctx);
  const dense = result.runs[0]?.method === "dense" ? result.runs[0].perplexity?.token : undefined;
  if (!b || !budget || !dense) return undefined;
  const out: BudgetResult = { metric: "perplexity", ...budget, dense, reachTolerance: ctx.loaded.config.regression.reach.max_decrease, searches: [] };
  const finetune = b.finetune && ctx.loaded.config.finetune ? [false, true] : [false];
  for (const m of budgetMethods(plan)) {
    for (const finetuned of finetune) {
      const what = { label: m.label, method: m.method, finetuned, allocation: "uniform" as const };
      out.searches.push(await runSearch(ctx, result, budget, what, knownPoints(result, m.label, finetuned, dense), (s) => uniformPoint(ctx, m, s, finetuned, hooks)));
    }
  }
  return out;
}

/**
 * The allocated search (budget.allocation): the sensitivity scan's method with per-layer
 * sparsities from the scan, searched over the overall sparsity like the uniform one, so the
 * report can set the two reaches side by side.
 */
export async function allocationStage(ctx: RunContext, result: Result, scan: Sensitivity, hooks: BudgetHooks): Promise<BudgetSearchRecord | undefined> {
  const allocation = ctx.loaded.config.prune.budget?.allocation;
  const budget = settings(ctx);
  if (!allocation || !budget || !result.budget) return undefined;
  const method = scan.method;
  const label = `${method}:sensitivity`;
  const options = { allocation: "sensitivity", lambda: allocation.lambda };
  const what = { label, method, finetuned: false, allocation: "sensitivity" as const };
  const record = await runSearch(ctx, result, budget, what, knownPoints(result, label, false, result.budget.dense), async (sparsity) => {
    const id = `${label}@${Number(sparsity.toFixed(6))}`;
    const pruned = await allocatedPrune(ctx, id, method, sparsity, allocateFromSensitivity(scan, sparsity, allocation.lambda));
    const measures = await evaluateStage(ctx, `eval-search:${id}`, pruned.model, id, { latency: false });
    const run = runRecord({ id, method, options, sparsity, fixedSparsity: false }, pruned.result.achievedSparsity, modelFacts(pruned.model, ctx.map.family), measures, false);
    run.seconds.prune = pruned.result.seconds.total ?? 0;
    run.search = true;
    hooks.record(run);
    return run;
  });
  if (record.within.sparsity > 0) record.layers = allocateFromSensitivity(scan, record.within.sparsity, allocation.lambda);
  return record;
}

/**
 * Prunes each layer's targets at its own sparsity, in memory, and writes the model under the
 * journal; targets outside the scanned layers get the overall sparsity.
 */
async function allocatedPrune(ctx: RunContext, id: string, method: string, sparsity: number, layers: { part: string; layer: number; sparsity: number }[]): Promise<PrunedArtifact> {
  const stage = `prune:${id}`;
  const done = ctx.journal.get<PrunedArtifact>(stage);
  if (done) return done;
  const started = performance.now();
  const { prune } = ctx.loaded.config;
  const groups = chooseTargets(ctx.map, { include: prune.include, exclude: prune.exclude });
  const layerOf = (g: (typeof groups)[number]) => layers.find((l) => l.part === g.info.part && l.layer === g.info.layer);
  const sets = [...layers.map((l) => ({ sparsity: l.sparsity, names: groups.filter((g) => layerOf(g) === l).map((g) => g.info.name) })), { sparsity, names: groups.filter((g) => !layerOf(g)).map((g) => g.info.name) }];
  const model = readModel(ctx.modelFile);
  const calibration = await calibrationFor(ctx, method);
  ctx.progress.log(`prune ${id}: layer sparsities ${layers.map((l) => l.sparsity.toFixed(3)).join(" ")}`);
  const parts: PruneResult[] = [];
  for (const set of sets.filter((x) => x.names.length)) {
    parts.push((await pruneModel(model, ctx.map, { method, sparsity: set.sparsity, patterns: exactPatterns(set.names), seed: prune.calibration.seed, calibration })).result);
  }
  const output = ctx.journal.artifact(stage, "model.onnx");
  writeModel(model, output);
  const sum = (f: (r: PruneResult) => number) => parts.reduce((n, r) => n + f(r), 0);
  const params = sum((r) => r.params);
  const result: PruneResult = {
    ...parts[0],
    output,
    mask: null,
    sparsity,
    achievedSparsity: params ? sum((r) => r.zeros) / params : 0,
    params,
    pruned: sum((r) => r.pruned),
    zeros: sum((r) => r.zeros),
    matrices: parts.flatMap((r) => r.matrices),
    seconds: { total: (performance.now() - started) / 1000 },
    warnings: parts.flatMap((r) => r.warnings),
  };
  const artifact: PrunedArtifact = { model: output, mask: null, result };
  ctx.journal.put(stage, artifact);
  return artifact;
}
