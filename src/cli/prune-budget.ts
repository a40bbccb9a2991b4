import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { relative } from "../config/schema.ts";
import { RunInterrupted } from "../errors.ts";
import { createStopSignal, type StopSignal } from "../pipeline/context.ts";
import { runInWorker } from "../eval/worker-client.ts";
import { mapModel } from "../models/index.ts";
import { readModel } from "../onnx/model.ts";
import { budgetPercent, budgetPointLine, budgetRequest, budgetSummaryLine, maxBudgetEvaluations, searchBudget, type BudgetRequest, type BudgetSearch } from "../prune/budget.ts";
import type { CalibrationCache } from "../prune/calibrated/job.ts";
import { PRUNE_RESULT_VERSION, getMethod, listMethods, runPruneJob, type PruneResult } from "../prune/index.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { fitJobToModel, jobFromOptions } from "./eval.ts";
import type { EvalJob } from "../eval/job.ts";
import { UsageError } from "./errors.ts";
import { withInterrupt } from "./interrupt.ts";
import { calibrationJobFromFlags, methodOptions, pruneJobFromFlags, type PruneCommandOptions } from "./prune.ts";

const pct = (x: number) => budgetPercent(x);

/** --budget and --tolerance as the search's request, with prune.budget's defaults. */
function budgetRequestFromFlags(options: PruneCommandOptions): BudgetRequest {
  const text = options.budget!;
  const ok = /^\d+(\.\d+)?%$/.test(text) || (text.trim() !== "" && Number.isFinite(Number(text)));
  const maxIncrease = ok ? (text.endsWith("%") ? text : Number(text)) : Number.NaN;
  if (!(relative(maxIncrease) >= 0)) throw new UsageError(`--budget: expected a perplexity increase such as "2%" or 0.02, got ${JSON.stringify(text)}`);
  const tolerance = options.tolerance === undefined ? undefined : Number(options.tolerance);
  if (tolerance !== undefined && !(tolerance > 0 && tolerance < 0.5)) throw new UsageError(`--tolerance: expected a step in (0, 0.5), e.g. 0.01, got ${JSON.stringify(options.tolerance)}`);
  return budgetRequest({ max_increase: maxIncrease, ...(tolerance === undefined ? {} : { tolerance }) });
}

/** Mask methods whose default options leave the sparsity to the request: what the search can move. */
function searchableMethods(): string[] {
  return listMethods()
    .filter((m) => !m.rewritesGraph && (m.impliedSparsity?.(m.parseOptions({})) ?? null) === null)
    .map((m) => m.name);
}

/** The report of `prunebench prune --budget --json`: the search and the written model's prune result. */
export interface BudgetCommandResult {
  schema: typeof PRUNE_RESULT_VERSION;
  method: string;
  maxIncrease: number;
  tolerance: number;
  dense: number;
  search: BudgetSearch;
  result: PruneResult | null;
}

/**
 * `prunebench prune <model> --method sparsegpt --budget 2% --dataset ... --tokenizer ...`: the
 * highest sparsity on a `tolerance` grid whose perplexity stays within the budget (the
 * pipeline's search, src/prune/budget.ts, from [0, 1)), then that model written to --out (and
 * its mask to --mask). Each candidate is pruned into a temporary folder and evaluated in a
 * worker thread; the found one is pruned again into --out, so --out is written once. Ctrl-C
 * stops it after the current evaluation's batch, removes the scratch folder and exits 130.
 */
export async function budgetCommand(model: string, options: PruneCommandOptions): Promise<BudgetCommandResult> {
  const stop = createStopSignal();
  return withInterrupt(stop, "interrupted: stopping the budget search, nothing will be written (Ctrl-C again to quit now)", () => searchAndWrite(model, options, stop));
}

async function searchAndWrite(model: string, options: PruneCommandOptions, stop: StopSignal): Promise<BudgetCommandResult> {
  const { maxIncrease, tolerance } = budgetRequestFromFlags(options);
  if (options.sparsity !== undefined) throw new UsageError("--budget searches the sparsity: leave out --sparsity");
  const method = getMethod(options.method);
  const fixed = method.rewritesGraph || (method.impliedSparsity?.(method.parseOptions(methodOptions(options))) ?? null) !== null;
  if (fixed) throw new UsageError(`--budget: ${options.method} fixes or shapes its sparsity; the search takes a mask method (${searchableMethods().join(", ")})`);
  if (!options.dataset) throw new UsageError("--budget needs --dataset <text file | bundled/test | wikitext-2-raw/test> to measure perplexity on");
  if (!options.tokenizer) throw new UsageError('--budget needs --tokenizer <tokenizer.json | vocab.json | vocab.txt | folder | "bytes">');
  // The dense model's job, its window cut to the model's positions as `prunebench eval` cuts it; each candidate is the same job on its file.
  const evalFlags = { tokenizer: options.tokenizer, dataset: options.dataset, seqLen: options.seqLen, stride: options.stride, cache: options.cache, perplexity: true };
  const denseJob = jobFromOptions(model, evalFlags);
  fitJobToModel(denseJob, evalFlags, (line) => console.error(line));
  const job = (file: string): EvalJob => ({ ...denseJob, model: file });
  const map = mapModel(readModel(model));
  const calibration = calibrationJobFromFlags(options, () => map);
  const calibrations: CalibrationCache = new Map();
  const interrupted = () => new RunInterrupted("the budget search", false);
  const perplexity = async (file: string) => {
    if (stop.requested) throw interrupted();
    const worker = runInWorker(job(file));
    const unsubscribe = stop.onRequest(() => worker.stop());
    const outcome = await worker.result.finally(unsubscribe).catch((error: unknown) => {
      throw error instanceof RunInterrupted ? interrupted() : error;
    });
    if (stop.requested) throw interrupted();
    if (!outcome.perplexity || outcome.perplexity.partial) throw new UsageError(`${file}: perplexity was not measured to the end`, 1);
    return outcome.perplexity.token;
  };
  const prune = (sparsity: number, output: string, mask?: string) => runPruneJob(pruneJobFromFlags(model, options, { sparsity, output, mask }, calibration), { map, calibrations });
  const dense = await perplexity(model);
  console.error(`budget ${options.method}: dense perplexity ${dense.toFixed(4)}; searching within +${pct(maxIncrease)} on a ${pct(tolerance)} grid (at most ${maxBudgetEvaluations(tolerance)} evaluations)`);
  const scratch = mkdtempSync(path.join(os.tmpdir(), "prunebench-budget-"));
  let search: BudgetSearch;
  try {
    search = await searchBudget({
      maxIncrease,
      tolerance,
      evaluate: async (sparsity) => {
        const file = path.join(scratch, `s${sparsity}.onnx`);
        await prune(sparsity, file);
        if (stop.requested) throw interrupted();
        const increase = (await perplexity(file)) / dense - 1;
        rmSync(file, { force: true });
        rmSync(`${file}.data`, { force: true });
        return { sparsity, increase, run: `${options.method}@${sparsity}` };
      },
      onPoint: (p, b) => console.error(`budget ${options.method}: ${budgetPointLine(p, b)}`),
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  let result: PruneResult | null = null;
  if (stop.requested) throw interrupted();
  if (search.within.sparsity > 0) {
    result = await prune(search.within.sparsity, options.out, options.mask);
    console.log(`${options.method}: ${budgetSummaryLine(search, maxIncrease)} -> ${options.out}`);
  }
  const report: BudgetCommandResult = { schema: PRUNE_RESULT_VERSION, method: options.method, maxIncrease, tolerance, dense, search, result };
  if (options.json) writeJsonAtomic(options.json, report);
  if (!result) throw new UsageError(`--budget: not even ${pct(search.beyond?.sparsity ?? tolerance)} of ${options.method} stays within +${pct(maxIncrease)} perplexity (${budgetPointLine(search.beyond ?? search.within, search)}); nothing written`, 1);
  return report;
}
