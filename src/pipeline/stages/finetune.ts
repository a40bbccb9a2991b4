import { readModel } from "../../onnx/model.ts";
import { writeModel } from "../../onnx/write.ts";
import type { z } from "zod";
import { FinetuneSummarySchema } from "../../results/schema.ts";
import { finetune } from "../../train/train.ts";
import { loadMasks } from "../../train/masks.ts";
import { runExternalTrainer } from "../../train/external.ts";
import { RunInterrupted, type RunContext } from "../context.ts";
import { datasetLabel, datasetTokens } from "../datasets.ts";
import { loadTokenizer } from "../../eval/tokenizer.ts";
import type { PrunedArtifact } from "./prune.ts";

export type FinetuneSummary = z.infer<typeof FinetuneSummarySchema>;

export interface TunedArtifact {
  model: string;
  summary: FinetuneSummary;
}

/**
 * Fine-tunes a pruned model with its mask kept: the built-in trainer (checkpointed under the
 * journal, so an interrupted fine-tune resumes at its last checkpoint; the weights of the
 * lowest validation loss are kept, the start included), or the config's
 * external command, after which the mask is re-applied and checked.
 */
export async function finetuneStage(ctx: RunContext, runId: string, pruned: Pick<PrunedArtifact, "model" | "mask">): Promise<TunedArtifact> {
  const stage = `finetune:${runId}`;
  const done = ctx.journal.get<TunedArtifact>(stage);
  // An entry that does not parse (NaN losses journaled as null by an older prunebench) is redone.
  if (done && FinetuneSummarySchema.safeParse(done.summary).success) return done;
  const ft = ctx.loaded.config.finetune!;
  const out = ctx.journal.artifact(stage, "model.onnx");
  const masks = pruned.mask ? loadMasks(pruned.mask) : new Map<string, Uint8Array>();
  let summary: FinetuneSummary;
  if (ft.command) {
    ctx.progress.log(`finetune ${runId}: ${ft.command}`);
    const result = await runExternalTrainer({ command: ft.command, model: pruned.model, out, masks, cwd: ctx.loaded.dir, onOutput: (chunk) => ctx.progress.log(chunk.trimEnd()) });
    // It reports no steps or losses: those stay absent, the re-zeroed weights are what is known.
    summary = { trainer: "command", seconds: result.seconds, ...(masks.size ? { reapplied: result.reapplied } : {}) };
  } else {
    const tokens = await datasetTokens(ctx, ft.dataset);
    // A validation split when the config names one; otherwise the trainer holds out the last 10%.
    const validTokens = ft.validation ? await datasetTokens(ctx, ft.validation) : undefined;
    const validation = ft.validation ? await datasetLabel(ctx, ft.validation) : `${await datasetLabel(ctx, ft.dataset)}, last 10% held out`;
    // The same special ids evaluation uses, so training and scoring mask and start alike.
    const { specials } = loadTokenizer(ctx.tokenizerFile);
    ctx.progress.start(`finetune ${runId}`, ft.steps);
    try {
      const result = await finetune({
        model: readModel(pruned.model),
        family: ctx.map.family,
        tokens,
        validTokens,
        keepBest: true,
        steps: ft.steps,
        lr: ft.lr,
        batch: ft.batch,
        seqLen: ctx.seqLen.finetune,
        warmup: ft.warmup,
        weightDecay: ft.weight_decay,
        seed: ft.seed,
        masks,
        maskToken: specials.mask,
        decoderStart: specials.pad ?? specials.eos ?? 0,
        checkpoint: { file: ctx.journal.artifact(stage, "checkpoint.bin"), every: Math.max(10, Math.ceil(ft.steps / 10)) },
        resume: true,
        onProgress: (event) => {
          // The trainer awaits between steps, so SIGINT lands here; the checkpoint keeps the work.
          if (ctx.stop.requested) throw new RunInterrupted(stage);
          if (event.kind === "step") ctx.progress.update(Math.min(event.step, ft.steps), `loss ${event.loss.toFixed(3)}`);
        },
      });
      writeModel(result.model, out);
      summary = {
        steps: result.steps,
        tokens: result.steps * ft.batch * ctx.seqLen.finetune,
        lossStart: result.initial.loss,
        lossEnd: result.final.loss,
        seconds: result.seconds,
        trainer: "builtin",
        validation,
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
