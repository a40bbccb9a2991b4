import { pruneFile } from "../../prune/engine.ts";
import { parseStructuredOptions, pruneStructuredFile } from "../../prune/structured/structured.ts";
import type { PruneResult } from "../../prune/result.ts";
import type { RunContext } from "../context.ts";
import type { PlannedRun } from "../plan.ts";
import { calibrationFor } from "./calibration.ts";

export interface PrunedArtifact {
  model: string;
  /** The mask file; null for structured pruning, whose removed weights are gone, not masked. */
  mask: string | null;
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
  if (run.method === "structured") {
    const artifact = structuredStage(ctx, run, model);
    ctx.journal.put(stage, artifact);
    return artifact;
  }
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

/**
 * Structured pruning removes the same fraction of heads and of MLP neurons in every layer, so the
 * matrices really shrink; its "achieved sparsity" is the share of parameters removed.
 */
function structuredStage(ctx: RunContext, run: PlannedRun, output: string): PrunedArtifact {
  const start = performance.now();
  const { headCount } = parseStructuredOptions(run.options);
  const done = pruneStructuredFile({ input: ctx.modelFile, output, heads: run.sparsity, neurons: run.sparsity, headCount, log: (line) => ctx.progress.log(`  ${line}`) });
  const removed = done.paramsBefore - done.paramsAfter;
  const result: PruneResult = {
    schema: 1,
    model: ctx.modelFile,
    output,
    mask: null,
    method: "structured",
    options: { heads: run.sparsity, neurons: run.sparsity, ...(headCount ? { heads_count: headCount } : {}) },
    scope: "structure",
    seed: 0,
    sparsity: run.sparsity,
    achievedSparsity: done.paramsBefore > 0 ? removed / done.paramsBefore : 0,
    params: done.paramsBefore,
    pruned: removed,
    zeros: 0,
    maxPrunedMagnitude: null,
    matrices: [],
    seconds: { total: (performance.now() - start) / 1000 },
    warnings: [],
  };
  return { model: output, mask: null, result };
}
