import { evaluatePerplexity } from "../../eval/evaluate.ts";
import { loadTokenizer } from "../../eval/tokenizer.ts";
import { readModel } from "../../onnx/model.ts";
import { sensitivityScan } from "../../prune/sensitivity.ts";
import type { Sensitivity } from "../../results/schema.ts";
import { RunInterrupted, type RunContext } from "../context.ts";
import { datasetText } from "../datasets.ts";
import { calibrationFor } from "./calibration.ts";

/**
 * The per-layer sensitivity scan: perplexity when one layer alone is pruned, for every layer,
 * on the evaluation text. Runs in-process (each model is small next to the sweep's work) and
 * checks for a stop request between layers.
 */
export async function sensitivityStage(ctx: RunContext): Promise<Sensitivity | undefined> {
  const done = ctx.journal.get<Sensitivity>("sensitivity");
  if (done) return done;
  const { prune, eval: evalConfig } = ctx.loaded.config;
  if (!prune.sensitivity || !evalConfig.perplexity) return undefined;
  const p = evalConfig.perplexity;
  const data = await datasetText(ctx, p.dataset, p.max_tokens);
  const tokenizer = loadTokenizer(ctx.tokenizerFile);
  const method = prune.sensitivity.method;
  const scan = await sensitivityScan(ctx.map, {
    method,
    sparsity: prune.sensitivity.sparsity,
    seed: prune.calibration.seed,
    calibration: await calibrationFor(ctx, method),
    load: () => readModel(ctx.modelFile),
    evaluate: async (model) => {
      if (ctx.stop.requested) throw new RunInterrupted("sensitivity");
      const result = await evaluatePerplexity(model, tokenizer, data.text, data.label, {
        family: ctx.map.family,
        protocol: p.protocol,
        seqLen: ctx.seqLen.eval,
        stride: p.stride,
        seed: p.seed,
        cacheDir: ctx.cacheDir,
      });
      return result.perplexity.token;
    },
    log: (line) => ctx.progress.log(line),
  });
  ctx.journal.put("sensitivity", scan);
  return scan;
}
