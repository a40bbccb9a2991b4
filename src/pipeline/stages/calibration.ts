import type { CalibrationData } from "../../prune/calibrated/calibration.ts";
import { loadCalibration, type CalibrationCache, type CalibrationJob } from "../../prune/calibrated/job.ts";
import { getMethod } from "../../prune/registry.ts";
import type { RunContext } from "../context.ts";

/**
 * The config's calibration request: prune.calibration's split (its schema's defaults applied),
 * tokenized with the model's tokenizer, in windows of the calibration seq_len the preflight fitted.
 */
export function calibrationJob(ctx: RunContext): CalibrationJob {
  const c = ctx.loaded.config.prune.calibration;
  return { dataset: c.dataset, tokenizer: ctx.tokenizerFile, samples: c.samples, seqLen: ctx.seqLen.calibration, seed: c.seed, configDir: ctx.loaded.dir, cacheDir: ctx.cacheDir };
}

/**
 * One cache per run context, so the token ids and statistics serve every method and sparsity
 * of the sweep, the sensitivity scan and the budget search.
 */
export function calibrationCache(ctx: RunContext): CalibrationCache {
  let cache = caches.get(ctx);
  if (!cache) caches.set(ctx, (cache = new Map()));
  return cache;
}

const caches = new WeakMap<RunContext, CalibrationCache>();

/**
 * Calibration data for methods that need it (Wanda, SparseGPT, OWL); methods that do not
 * calibrate get nothing, so magnitude sweeps never tokenize the training split.
 */
export async function calibrationFor(ctx: RunContext, method: string): Promise<CalibrationData | undefined> {
  if (!getMethod(method).calibrated) return undefined;
  return loadCalibration(calibrationJob(ctx), ctx.map.family, calibrationCache(ctx));
}
