import type { z } from "zod";
import { FinetuneSummarySchema } from "../../results/schema.ts";
import { finetuneRequest, runFinetune } from "../../train/request.ts";
import { RunInterrupted, type RunContext } from "../context.ts";
import type { PrunedArtifact } from "./prune.ts";

export type FinetuneSummary = z.infer<typeof FinetuneSummarySchema>;

export interface TunedArtifact {
  model: string;
  summary: FinetuneSummary;
}

/**
 * Fine-tunes a pruned model with its mask kept: the config's finetune section as a
 * FinetuneRequest, run as `prunebench finetune` runs it (src/train/request.ts), checkpointed
 * under the journal so an interrupted fine-tune resumes at its last checkpoint.
 */
export async function finetuneStage(ctx: RunContext, runId: string, pruned: Pick<PrunedArtifact, "model" | "mask">): Promise<TunedArtifact> {
  const stage = `finetune:${runId}`;
  const done = ctx.journal.get<TunedArtifact>(stage);
  // An entry that does not parse (NaN losses journaled as null by an older prunebench) is redone.
  if (done && FinetuneSummarySchema.safeParse(done.summary).success) return done;
  const ft = ctx.loaded.config.finetune!;
  const out = ctx.journal.artifact(stage, "model.onnx");
  const request = finetuneRequest({
    model: pruned.model,
    out,
    mask: pruned.mask ?? undefined,
    family: ctx.map.family,
    tokenizer: ctx.tokenizerFile,
    recipe: ft,
    seqLen: ctx.seqLen.finetune,
    baseDir: ctx.loaded.dir,
    cacheDir: ctx.cacheDir,
    checkpoint: ctx.journal.artifact(stage, "checkpoint.bin"),
    resume: true,
  });
  let summary: FinetuneSummary;
  if (ft.command) {
    ctx.progress.log(`finetune ${runId}: ${ft.command}`);
    const outcome = await runFinetune(request, { onOutput: (chunk) => ctx.progress.log(chunk.trimEnd()) });
    if (outcome.trainer !== "command") throw new Error("finetune: the external command was asked for");
    // It reports no steps or losses: those stay absent, the re-zeroed weights are what is known.
    summary = { trainer: "command", seconds: outcome.external.seconds, ...(pruned.mask ? { reapplied: outcome.external.reapplied } : {}) };
  } else {
    ctx.progress.start(`finetune ${runId}`, ft.steps);
    try {
      const outcome = await runFinetune(request, {
        onProgress: (event) => {
          // The trainer awaits between steps, so SIGINT lands here; the checkpoint keeps the work.
          if (ctx.stop.requested) throw new RunInterrupted(stage);
          if (event.kind === "step") ctx.progress.update(Math.min(event.step, ft.steps), `loss ${event.loss.toFixed(3)}`);
        },
      });
      if (outcome.trainer !== "builtin") throw new Error("finetune: the built-in trainer was asked for");
      const { result } = outcome;
      summary = {
        steps: result.steps,
        tokens: outcome.tokens,
        lossStart: result.initial.loss,
        lossEnd: result.final.loss,
        seconds: result.seconds,
        trainer: "builtin",
        validation: outcome.validation,
        bestStep: result.final.step,
      };
    } finally {
      ctx.progress.stop();
    }
  }
  const artifact = { model: out, summary };
  ctx.journal.put(stage, artifact);
  return artifact;
}
