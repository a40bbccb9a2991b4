import { getMethod } from "../../prune/registry.ts";
import type { RunContext } from "../context.ts";
import { datasetTokens } from "../datasets.ts";

/**
 * Calibration data for methods that need it (Wanda, SparseGPT, OWL): token ids of the
 * config's calibration split with its sample count, window and seed. Methods that do not
 * calibrate get nothing, so magnitude sweeps never tokenize the training split.
 */
export async function calibrationFor(ctx: RunContext, method: string): Promise<unknown> {
  if (!getMethod(method).calibrated) return undefined;
  const c = ctx.loaded.config.prune.calibration;
  return {
    tokens: await datasetTokens(ctx, c.dataset),
    samples: c.samples,
    seqLen: c.seq_len,
    seed: c.seed,
    family: ctx.map.family,
    tokenizer: ctx.tokenizerFile,
  };
}
