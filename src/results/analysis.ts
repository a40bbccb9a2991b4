import { z } from "zod";

/**
 * The `analysis` section of a result: weight statistics from one streaming pass over the
 * initializers (src/analyze). The report reads it. Every count is exact (no sampling):
 *
 * - Weights are binned by the top 16 bits of their fp32 word; a bin edge that is a float with
 *   at most 8 significant bits is exact from the bins alone. Log-grid points (log10 histogram
 *   edges, raw curve cutoffs) are snapped to such floats (within 0.4% of 10^x) and the exact
 *   values used are reported (`edges`, `cutoffs`). Table cutoffs (0.1, 0.01, ...) and "== 0"
 *   are counted exactly as given, through a second look at the few bins that hold them.
 * - Medians per layer are exact (a radix select over the float bits).
 * - The scale-free view divides |w| by the standard deviation of each weight's own tensor; the
 *   threshold c * sigma is snapped per tensor to the nearest 8-significant-bit float.
 */

/**
 * Equal-width bins over [lo, hi]; values outside land in `under` / `over`.
 * Linear histograms: bins are symmetric in |w| ([j d, (j+1) d) for w >= 0, (-(j+1) d, -j d] for
 * w < 0), d a power of two; the range covers the 99.5th percentile of |w| of the whole model (embeddings and norm scales beyond it land in under/over).
 * log10 histograms: bins of log10|w| (lo, hi in log10 units); exact zeros are not in them
 * (see `zeros`); `edges` holds the exact |w| edges used (counts.length + 1 values).
 */
export const HistogramSchema = z.object({
  lo: z.number(),
  hi: z.number(),
  counts: z.array(z.number().int().nonnegative()),
  under: z.number().int().nonnegative(),
  over: z.number().int().nonnegative(),
  edges: z.array(z.number()).optional(),
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
  /** Fraction with |w| < c over a log grid of c (1e-7 .. 10, ten points a decade). */
  raw: CurveSchema,
  /** Fraction with |w| / sigma(own tensor) < c over a log grid of c (1e-4 .. 10). */
  scaleFree: CurveSchema,
});
export type WeightDistribution = z.infer<typeof WeightDistributionSchema>;

export const LayerStatsSchema = z.object({
  part: PartNameSchema,
  layer: z.number().int().nonnegative(),
  params: z.number().int().nonnegative(),
  /** Fraction with |w| below each of `AnalysisSchema.cutoffs`, same order. */
  belowCutoff: z.array(z.number().min(0).max(1)),
  /** Exact median of |w| over the layer (mean of the two middle values for an even count). */
  medianAbs: z.number().nonnegative(),
  /** Fraction with |w|/std below 0.1 (the scale-free view per layer). */
  belowScaled: z.number().min(0).max(1),
  zeros: z.number().int().nonnegative().optional(),
  /** The layer's histograms, on the same bins as the whole model's. */
  linear: HistogramSchema.optional(),
  log10: HistogramSchema.optional(),
});
export type LayerStats = z.infer<typeof LayerStatsSchema>;

export const AnalysisSchema = z.object({
  /** What was counted: e.g. "base model without LM head, tied weights once". */
  convention: z.string(),
  params: z.object({
    /** Parameters counted by `convention`; every distribution below covers exactly these. */
    total: z.number().int().nonnegative(),
    /** Counts of every float initializer as stored, duplicates included. */
    stored: z.number().int().nonnegative(),
    /** Float initializers with task heads included, tied weights once (torch's num_parameters of the full model). */
    withHeads: z.number().int().nonnegative().optional(),
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
  /** The weights pruning touches by default (attention and MLP matrices). */
  prunable: WeightDistributionSchema.optional(),
  /** Fraction of prunable weights below each cutoff. */
  prunableBelowCutoff: z.array(z.number().min(0).max(1)).optional(),
  perLayer: z.array(LayerStatsSchema),
  /**
   * Whether earlier layers hold more small weights (the study's observation), per part:
   * Spearman's rho between layer index and the layer's median |w|; `holds` when rho > 0
   * (later layers larger, so earlier layers have more small weights).
   */
  earlierLayersSmaller: z.array(
    z.object({
      part: PartNameSchema,
      holds: z.boolean(),
      spearman: z.number(),
      layers: z.number().int().nonnegative().optional(),
      measure: z.string().optional(),
    }),
  ),
  zeros: z.number().int().nonnegative(),
  seconds: z.number().nonnegative(),
  /** How to read the numbers (raw cutoffs measure weight scale, snapping of grid points, ...). */
  notes: z.array(z.string()).optional(),
});
export type Analysis = z.infer<typeof AnalysisSchema>;
