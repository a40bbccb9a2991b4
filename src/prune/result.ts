import { z } from "zod";

/** What one (method, sparsity) pruning run did: the `prune` stage's typed result. */
export const PRUNE_RESULT_VERSION = 1;

export const PrunedMatrixSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  /** ONNX data type name as stored ("FLOAT", "FLOAT16", ...). */
  dataType: z.string(),
  count: z.number().int().nonnegative(),
  /** Weights the mask drops. */
  pruned: z.number().int().nonnegative(),
  /** Weights that are zero in the output (pruned ones plus zeros that were kept). */
  zeros: z.number().int().nonnegative(),
  /** zeros / count. */
  sparsity: z.number().min(0).max(1),
  /** Tied copies written with the same mask. */
  copies: z.array(z.string()).default([]),
});
export type PrunedMatrix = z.infer<typeof PrunedMatrixSchema>;

export const PruneResultSchema = z.object({
  schema: z.literal(PRUNE_RESULT_VERSION),
  model: z.string(),
  output: z.string().nullable(),
  mask: z.string().nullable(),
  method: z.string(),
  options: z.record(z.string(), z.unknown()).default({}),
  scope: z.string(),
  seed: z.number().int(),
  /** Requested sparsity (for N:M, the pattern's (M-N)/M). */
  sparsity: z.number().min(0).max(1),
  /** Zeros over all target weights after pruning. */
  achievedSparsity: z.number().min(0).max(1),
  /** Target weights (tied copies counted once). */
  params: z.number().int().nonnegative(),
  pruned: z.number().int().nonnegative(),
  zeros: z.number().int().nonnegative(),
  /** Largest |w| pruned; for global magnitude, the threshold (smaller |w| are all pruned). */
  maxPrunedMagnitude: z.number().nullable().default(null),
  matrices: z.array(PrunedMatrixSchema),
  /** Structured pruning: per attention block or MLP, the heads or neurons before and the indices kept. */
  blocks: z.array(z.object({ part: z.string(), layer: z.number().int(), block: z.string(), before: z.number().int().positive(), kept: z.array(z.number().int().nonnegative()) })).optional(),
  seconds: z.record(z.string(), z.number().nonnegative()),
  /** CPU seconds (user + system) of the same stages: on a busy machine, wall time mostly measures the neighbours. */
  cpuSeconds: z.record(z.string(), z.number().nonnegative()).optional(),
  warnings: z.array(z.string()).default([]),
});
export type PruneResult = z.infer<typeof PruneResultSchema>;

/** The `--json` document of `prunebench prune`: one result per (method, sparsity). */
export const PruneReportSchema = z.object({
  schema: z.literal(PRUNE_RESULT_VERSION),
  results: z.array(PruneResultSchema),
});
export type PruneReport = z.infer<typeof PruneReportSchema>;
