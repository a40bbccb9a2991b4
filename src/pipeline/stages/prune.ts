import { pruneFile } from "../../prune/engine.ts";
import type { PruneResult } from "../../prune/result.ts";
import type { RunContext } from "../context.ts";
import type { PlannedRun } from "../plan.ts";
import { calibrationFor } from "./calibration.ts";

export interface PrunedArtifact {
  model: string;
  mask: string;
  result: PruneResult;
}

/** One point of the sweep: the pruned model and its mask, written under the journal. */
export async function pruneStage(ctx: RunContext, run: PlannedRun): Promise<PrunedArtifact> {
  const stage = `prune:${run.id}`;
  const done = ctx.journal.get<PrunedArtifact>(stage);
  if (done) return done;
  const model = ctx.journal.artifact(stage, "model.onnx");
  const mask = ctx.journal.artifact(stage, "model.mask");
  const { prune } = ctx.loaded.config;
  ctx.progress.log(`prune ${run.id}`);
  const result = await pruneFile({
    input: ctx.modelFile,
    output: model,
    mask,
    map: ctx.map,
    method: run.method,
    options: run.options,
    sparsity: run.fixedSparsity ? undefined : run.sparsity,
    patterns: { include: prune.include, exclude: prune.exclude },
    seed: prune.calibration.seed,
    calibration: await calibrationFor(ctx, run.method),
    log: (line) => ctx.progress.log(`  ${line}`),
  });
  const artifact = { model, mask, result };
  ctx.journal.put(stage, artifact);
  return artifact;
}
