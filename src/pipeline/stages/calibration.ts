import type { CalibrationData } from "../../prune/calibrated/calibration.ts";
import { getMethod } from "../../prune/registry.ts";
import type { RunContext } from "../context.ts";
import { datasetTokens } from "../datasets.ts";

/**
 * Calibration data for methods that need it (Wanda, SparseGPT, OWL): token ids of the
 * config's calibration split with its sample count, window and seed. Methods that do not
 * calibrate get nothing, so magnitude sweeps never tokenize the training split. One object per
 * run context, so its statistics cache serves every method and sparsity of the sweep.
 */
export async function calibrationFor(ctx: RunContext, method: string): Promise<CalibrationData | undefined> {
  if (!getMethod(method).calibrated) return undefined;
  let data = calibrations.get(ctx);
  if (!data) {
    const c = ctx.loaded.config.prune.calibration;
    data = { tokens: await datasetTokens(ctx, c.dataset), samples: c.samples, seqLen: ctx.seqLen.calibration, seed: c.seed, family: ctx.map.family, statsCache: new Map() };
    calibrations.set(ctx, data);
  }
  return data;
}

const calibrations = new WeakMap<RunContext, CalibrationData>();
