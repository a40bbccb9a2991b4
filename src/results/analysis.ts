import { z } from "zod";

/**
 * The `analysis` section of a result: weight statistics from one streaming pass.
 * Owned by src/analyze; the report reads it. Additions must be optional fields.
 */

/** Equal-width bins over [lo, hi]; values outside land in `under` / `over`. */
export const HistogramSchema = z.object({
  lo: z.number(),
  hi: z.number(),
  counts: z.array(z.number().int().nonnegative()),
  under: z.number().int().nonnegative(),
  over: z.number().int().nonnegative(),
});
export type Histogram = z.infer<typeof HistogramSchema>;

/** Fraction of parameters with |w| < c for each cutoff c (raw, or in units of each matrix's std). */
export const CurveSchema = z.object({
  cutoffs: z.array(z.number()),
  fraction: z.array(z.number().min(0).max(1)),
});
export type Curve = z.infer<typeof CurveSchema>;

export const PartNameSchema = z.enum(["encoder", "decoder", "shared"]);

export const WeightDistributionSchema = z.object({
  params: z.number().int().nonnegative(),
  /** Linear bins of w over a symmetric range. */
  linear: HistogramSchema,
  /** Bins of log10|w|; exact zeros are counted apart in `zeros`. */
  log10: HistogramSchema,
  zeros: z.number().int().nonnegative(),
  raw: CurveSchema,
  scaleFree: CurveSchema,
});
export type WeightDistribution = z.infer<typeof WeightDistributionSchema>;

export const LayerStatsSchema = z.object({
  part: PartNameSchema,
  layer: z.number().int().nonnegative(),
  params: z.number().int().nonnegative(),
  /** Fraction with |w| below each of `AnalysisSchema.cutoffs`, same order. */
  belowCutoff: z.array(z.number().min(0).max(1)),
  medianAbs: z.number().nonnegative(),
  /** Fraction with |w|/std below 0.1 (the scale-free view per layer). */
  belowScaled: z.number().min(0).max(1),
});
export type LayerStats = z.infer<typeof LayerStatsSchema>;

export const AnalysisSchema = z.object({
  /** What was counted: e.g. "base model without LM head, tied weights once". */
  convention: z.string(),
  params: z.object({
    total: z.number().int().nonnegative(),
    /** Counts of every initializer as stored, duplicates included. */
    stored: z.number().int().nonnegative(),
    byPart: z.record(z.string(), z.number().int().nonnegative()),
    byBlock: z.record(z.string(), z.number().int().nonnegative()),
    byRole: z.record(z.string(), z.number().int().nonnegative()),
    prunable: z.number().int().nonnegative(),
  }),
  /** Cutoffs of the table, e.g. [0.1, 0.01, 0.001]. */
  cutoffs: z.array(z.number().positive()),
  /** Fraction with |w| < each cutoff over all counted parameters. */
  belowCutoff: z.array(z.number().min(0).max(1)),
  all: WeightDistributionSchema,
  byPart: z.record(z.string(), WeightDistributionSchema),
  perLayer: z.array(LayerStatsSchema),
  /** Whether earlier layers hold more small weights (the study's observation), per part. */
  earlierLayersSmaller: z.array(
    z.object({ part: PartNameSchema, holds: z.boolean(), spearman: z.number() }),
  ),
  zeros: z.number().int().nonnegative(),
  seconds: z.number().nonnegative(),
});
export type Analysis = z.infer<typeof AnalysisSchema>;
