import { runPruneJob, type PruneJob } from "../../prune/job.ts";
import { getMethod } from "../../prune/registry.ts";
import type { PruneResult } from "../../prune/result.ts";
import type { RunContext } from "../context.ts";
import type { PlannedRun } from "../plan.ts";
import { calibrationCache, calibrationJob } from "./calibration.ts";

export interface PrunedArtifact {
  model: string;
  /** The mask file; null for structured pruning, whose removed weights are gone, not masked. */
  mask: string | null;
  result: PruneResult;
}

/** A point of the sweep as the prune request `prunebench prune` builds from its flags. */
export function pruneJob(ctx: RunContext, run: PlannedRun, output: string, mask: string | undefined): PruneJob {
  const { prune } = ctx.loaded.config;
  return {
    model: ctx.modelFile,
    output,
    mask,
    method: run.method,
    options: run.options,
    sparsity: run.fixedSparsity ? undefined : run.sparsity,
    include: prune.include,
    exclude: prune.exclude,
    seed: prune.calibration.seed,
    calibration: getMethod(run.method).calibrated ? calibrationJob(ctx) : undefined,
  };
}

/** One point of the sweep: the pruned model and its mask, written under the journal. */
export async function pruneStage(ctx: RunContext, run: PlannedRun): Promise<PrunedArtifact> {
  const stage = `prune:${run.id}`;
  const done = ctx.journal.get<PrunedArtifact>(stage);
  if (done) return done;
  const model = ctx.journal.artifact(stage, "model.onnx");
  const mask = getMethod(run.method).rewritesGraph ? undefined : ctx.journal.artifact(stage, "model.mask");
  ctx.progress.log(`prune ${run.id}`);
  const result = await runPruneJob(pruneJob(ctx, run, model, mask), { map: ctx.map, calibrations: calibrationCache(ctx), log: (line) => ctx.progress.log(`  ${line}`) });
  const artifact: PrunedArtifact = { model, mask: mask ?? null, result };
  ctx.journal.put(stage, artifact);
  return artifact;
}
