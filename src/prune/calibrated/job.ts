/**
 * The calibration windows a calibrated method (Wanda, SparseGPT, OWL) is given, as plain data:
 * built from a config's prune.calibration (src/pipeline/stages/calibration.ts) and from
 * `prunebench prune --calibration ...` (src/cli/prune.ts), both with the config schema's
 * defaults, and loaded here.
 */
import type { Family } from "../../models/types.ts";
import { datasetTokens } from "../../eval/token-cache.ts";
import type { CalibrationData } from "./calibration.ts";

export interface CalibrationJob {
  /** A dataset reference (bundled/train, wikitext-2-raw/train, <folder>:train, a text file). */
  dataset: string;
  /** A tokenizer file or folder, or "bytes". */
  tokenizer: string;
  /** Windows drawn. */
  samples: number;
  /** Tokens per window. */
  seqLen: number;
  seed: number;
  /** Folder a relative dataset path resolves against (the config's); the working directory when absent. */
  configDir?: string;
  cacheDir: string;
}

/**
 * Loaded calibration data by job: keep one per sweep, so every method and sparsity of it share
 * the token ids and the statistics cache (the dense model is calibrated once).
 */
export type CalibrationCache = Map<string, Promise<CalibrationData>>;

export function loadCalibration(job: CalibrationJob, family: Family, cache?: CalibrationCache): Promise<CalibrationData> {
  const key = JSON.stringify([job, family]);
  const known = cache?.get(key);
  if (known) return known;
  const loading = datasetTokens(job.dataset, { tokenizer: job.tokenizer, cacheDir: job.cacheDir, configDir: job.configDir }).then(
    ({ tokens }): CalibrationData => ({ tokens, samples: job.samples, seqLen: job.seqLen, seed: job.seed, family, statsCache: new Map() }),
  );
  cache?.set(key, loading);
  // A failed load is not kept: the next caller gets the error again, not a stale promise.
  loading.catch(() => cache?.delete(key));
  return loading;
}
