import path from "node:path";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import type { LoadedConfig } from "../config/load.ts";
import { runnerFingerprint } from "../eval/runner.ts";
import { RESULT_SCHEMA_VERSION, ResultSchema, type Result, type Run } from "../results/schema.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { RunInterrupted, type RunContext, type StopSignal } from "./context.ts";
import { openJournal } from "./journal.ts";
import { resultFile } from "./out-folder.ts";
import { modelFacts } from "./model-facts.ts";
import type { Preflighted } from "./preflight.ts";
import { planRuns, type PlannedRun } from "./plan.ts";
import { overlapWarning, textOverlaps } from "./overlap.ts";
import type { Progress } from "./progress.ts";
import { analyzeStage } from "./stages/analyze.ts";
import { allocationStage, budgetStage } from "./stages/budget.ts";
import { evaluateStage } from "./stages/evaluate.ts";
import { runRecord } from "./runs.ts";
import { finetuneStage } from "./stages/finetune.ts";
import { pruneStage } from "./stages/prune.ts";
import { sensitivityStage } from "./stages/sensitivity.ts";

export interface RunConfigOptions {
  outDir: string;
  cacheDir: string;
  progress: Progress;
  stop: StopSignal;
  /** The commit measured (recorded in results; the results store keys on it). */
  commit?: string | null;
  shard?: string;
  /** Keep latency to these providers (the Action falls back to CPU when CUDA is not installed). */
  providers?: Array<"cpu" | "cuda">;
}

/**
 * The whole study for one config, stage by stage: analyze, then for the dense model and each
 * point of the sweep prune, evaluate, fine-tune and evaluate again, then the budget search
 * (prune.budget), the sensitivity scan, and the budget search allocated from the scan.
 * The result file is rewritten (atomically) after every stage, so whatever finished is on disk
 * before anything that can fail; a failed run records its error and the sweep goes on.
 */
export async function runConfig(prepared: Preflighted, options: RunConfigOptions): Promise<Result> {
  const loaded = withProviders(prepared.loaded, options.providers);
  const { config } = loaded;
  const plan = planRuns(config);
  const { files, map } = prepared;
  for (const note of prepared.notes) options.progress.log(note);
  const provider = config.eval.latency ? config.eval.latency.providers[0] : "cpu";
  const ctx: RunContext = {
    loaded,
    modelFile: files.model,
    tokenizerFile: files.tokenizer,
    map,
    runner: runnerFingerprint({ provider }),
    journal: openJournal(options.outDir, config.name, loaded.hash),
    progress: options.progress,
    stop: options.stop,
    cacheDir: options.cacheDir,
    seqLen: prepared.seqLen,
    dataDir: path.join(options.outDir, "data"),
  };
  const result: Result = {
    schema: RESULT_SCHEMA_VERSION,
    model: config.name,
    family: map.family,
    architecture: map.architecture,
    configHash: loaded.hash,
    commit: options.commit === undefined ? gitCommit(loaded.dir) : options.commit,
    createdAt: new Date().toISOString(),
    runner: ctx.runner,
    runs: [],
    timings: {},
    warnings: [...map.notes, ...prepared.notes],
    ...(options.shard ? { shard: options.shard } : {}),
  };
  const save = () => writeJsonAtomic(resultFile(options.outDir, config.name), ResultSchema.parse(result));
  const timed = async <T>(name: string, fn: () => T | Promise<T>): Promise<T> => {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      result.timings[name] = (result.timings[name] ?? 0) + (performance.now() - start) / 1000;
    }
  };
  const checkStop = (stage: string) => {
    if (ctx.stop.requested) throw new RunInterrupted(stage);
  };

  const overlaps = await textOverlaps(ctx, plan);
  if (overlaps.length) {
    result.overlaps = overlaps;
    for (const o of overlaps) {
      const warning = overlapWarning(o, path.basename(loaded.file));
      result.warnings.push(warning);
      ctx.progress.log(`warning: ${warning}`);
    }
  }
  try {
    result.analysis = await timed("analyze", () => analyzeStage(ctx));
    save();
    checkStop("evaluate dense");
    const dense = await timed("evaluate", () => evaluateStage(ctx, "eval:dense", ctx.modelFile, "dense"));
    result.runs.push(runRecord({ id: "dense", method: "dense", options: {}, sparsity: 0, fixedSparsity: true }, 0, modelFacts(ctx.modelFile, map.family), dense, false));
    save();
    if (config.finetune) {
      checkStop("finetune dense");
      await denseControl(ctx, result, timed, save);
    }
    for (const planned of plan) {
      checkStop(`prune ${planned.id}`);
      await sweepPoint(ctx, planned, result, timed, save);
    }
    const hooks = {
      record: (run: Run) => {
        result.runs.push(run);
        save();
      },
    };
    if (config.prune.budget) {
      checkStop("budget");
      result.budget = await timed("budget", () => budgetStage(ctx, plan, result, hooks));
      save();
    }
    if (config.prune.sensitivity) {
      checkStop("sensitivity");
      result.sensitivity = await timed("sensitivity", () => sensitivityStage(ctx));
      save();
    }
    if (result.budget && result.sensitivity && config.prune.budget?.allocation) {
      const allocated = await timed("budget", () => allocationStage(ctx, result, result.sensitivity!, hooks));
      if (allocated) result.budget.searches.push(allocated);
      save();
    }
  } finally {
    save();
  }
  return result;
}

type Timed = <T>(name: string, fn: () => T | Promise<T>) => Promise<T>;

/** One point of the sweep; a failure is recorded in its run and does not stop the others. */
async function sweepPoint(ctx: RunContext, planned: PlannedRun, result: Result, timed: Timed, save: () => void): Promise<void> {
  // What a failure is recorded as: the pruned run, or once that is in, its fine-tuned row.
  let failing = { run: planned, finetuned: false };
  try {
    const pruned = await timed("prune", () => pruneStage(ctx, planned));
    const facts = modelFacts(pruned.model, ctx.map.family);
    const measures = await timed("evaluate", () => evaluateStage(ctx, `eval:${planned.id}`, pruned.model, planned.id));
    const run = runRecord(planned, pruned.result.achievedSparsity, facts, measures, false);
    run.seconds.prune = pruned.result.seconds.total ?? 0;
    result.runs.push(run);
    save();
    if (!ctx.loaded.config.finetune) return;
    failing = { run: { ...planned, id: `${planned.id}+ft` }, finetuned: true };
    const tuned = await timed("finetune", () => finetuneStage(ctx, planned.id, pruned));
    const tunedMeasures = await timed("evaluate", () => evaluateStage(ctx, `eval:${planned.id}+ft`, tuned.model, `${planned.id}+ft`));
    const tunedRun = runRecord({ ...planned, id: `${planned.id}+ft` }, pruned.result.achievedSparsity, modelFacts(tuned.model, ctx.map.family), tunedMeasures, true);
    tunedRun.finetune = tuned.summary;
    result.runs.push(tunedRun);
    save();
  } catch (error) {
    recordFailure(ctx, result, failing.run, error, failing.finetuned);
    save();
  }
}

/**
 * The dense model fine-tuned with the same recipe: the control of every fine-tuned row, so a
 * reader can tell what pruning costs from what the fine-tuning text does to any model.
 */
async function denseControl(ctx: RunContext, result: Result, timed: Timed, save: () => void): Promise<void> {
  const planned: PlannedRun = { id: "dense+ft", method: "dense", options: {}, sparsity: 0, fixedSparsity: true };
  try {
    const tuned = await timed("finetune", () => finetuneStage(ctx, "dense", { model: ctx.modelFile, mask: null }));
    const measures = await timed("evaluate", () => evaluateStage(ctx, "eval:dense+ft", tuned.model, planned.id));
    const run = runRecord(planned, 0, modelFacts(tuned.model, ctx.map.family), measures, true);
    run.finetune = tuned.summary;
    result.runs.push(run);
  } catch (error) {
    recordFailure(ctx, result, planned, error, true);
  }
  save();
}

/**
 * A run that failed keeps its error in the results; an interruption goes on up. Once a stop was
 * asked for, any error is taken for the stop's doing (a step cut short can throw anything) and
 * nothing is recorded: the run is redone on resume, never reported as failed.
 */
function recordFailure(ctx: RunContext, result: Result, planned: PlannedRun, error: unknown, finetuned: boolean): void {
  if (error instanceof RunInterrupted) throw error;
  if (ctx.stop.requested) throw new RunInterrupted(planned.id);
  const message = error instanceof Error ? error.message : String(error);
  ctx.progress.log(`run ${planned.id} failed: ${message}`);
  result.runs.push({ ...runRecord(planned, 0, { params: 0, nonzeroParams: 0, sizeBytes: 0 }, { latency: [], warnings: [], seconds: 0 }, finetuned), error: message });
}

/** The config with its latency providers overridden; the override is part of the journal key. */
function withProviders(loaded: LoadedConfig, providers: RunConfigOptions["providers"]): LoadedConfig {
  const latency = loaded.config.eval.latency;
  if (!providers?.length || !latency || providers.join() === latency.providers.join()) return loaded;
  const config = { ...loaded.config, eval: { ...loaded.config.eval, latency: { ...latency, providers } } };
  return { ...loaded, config, hash: createHash("sha256").update(`${loaded.hash}\0providers=${providers.join(",")}`).digest("hex") };
}

function gitCommit(dir: string): string | null {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() || null;
  } catch {
    return null;
  }
}
