/**
 * One pruning request as plain data: built from `prunebench prune`'s flags (src/cli/prune.ts)
 * and from a point of a config's sweep (src/pipeline/stages/prune.ts), and run by runPruneJob,
 * so both prune alike: mask methods through the engine, graph rewrites (structured) by the
 * method itself.
 */
import { mapModel } from "../models/index.ts";
import type { ModelMap } from "../models/types.ts";
import { readModel } from "../onnx/model.ts";
import { loadCalibration, type CalibrationCache, type CalibrationJob } from "./calibrated/job.ts";
import { pruneFile } from "./engine.ts";
import { PruneError } from "./errors.ts";
import { getMethod } from "./registry.ts";
import type { PruneResult } from "./result.ts";

export interface PruneJob {
  model: string;
  output: string;
  /** Mask file to write (mask methods only: a graph rewrite has nothing to mask). */
  mask?: string;
  method: string;
  /** The options as written (flags, a config's map); the method parses them. */
  options: Record<string, unknown>;
  /** Left out where the method's options fix it (N:M). */
  sparsity?: number;
  include?: string[];
  exclude?: string[];
  /** Seed of random methods and of the calibration windows. */
  seed: number;
  externalData?: "auto" | "always" | "never";
  engine?: "auto" | "stream" | "memory";
  /** Calibration windows, read only by calibrated methods. */
  calibration?: CalibrationJob;
}

export interface PruneJobHooks {
  /** The model's map, where the caller has it (mapModel otherwise). */
  map?: ModelMap;
  /** Loaded calibration data, shared by the jobs of one sweep. */
  calibrations?: CalibrationCache;
  log?: (message: string) => void;
}

/** Prunes `job.model` into `job.output` (and `job.mask`). */
export async function runPruneJob(job: PruneJob, hooks: PruneJobHooks = {}): Promise<PruneResult> {
  const method = getMethod(job.method);
  const log = hooks.log ?? (() => {});
  if (method.rewritesGraph) {
    if (job.mask) throw new PruneError(`${method.name} rewrites the graph and writes no mask file; leave the mask out`);
    const options = method.parseOptions(job.options);
    return method.rewriteFile({ input: job.model, output: job.output, sparsity: job.sparsity, options, externalData: job.externalData, log });
  }
  let map = hooks.map;
  let calibration;
  if (method.calibrated && job.calibration) {
    map ??= mapModel(readModel(job.model));
    calibration = await loadCalibration(job.calibration, map.family, hooks.calibrations);
  }
  return pruneFile({
    input: job.model,
    output: job.output,
    mask: job.mask,
    map,
    method: job.method,
    options: job.options,
    sparsity: job.sparsity,
    patterns: { include: job.include, exclude: job.exclude },
    seed: job.seed,
    externalData: job.externalData,
    engine: job.engine,
    calibration,
    log,
  });
}
