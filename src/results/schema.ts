import { z } from "zod";
import { AnalysisSchema } from "./analysis.ts";

/**
 * The result file: one per model and shard, versioned. Every stage writes into it; the
 * report stage reads nothing else. Validated whenever it is read (it may come from an
 * untrusted job), so bad files give errors that name the file and field.
 */
export const RESULT_SCHEMA_VERSION = 1;

export const RunnerSchema = z.object({
  os: z.string(),
  cpu: z.string(),
  cores: z.number().int().positive(),
  memoryBytes: z.number().nonnegative(),
  gpu: z.string().nullable(),
  driver: z.string().nullable(),
  ort: z.string(),
  node: z.string(),
  provider: z.enum(["cpu", "cuda"]),
  /** Hash of what makes timings comparable: cpu, gpu, driver, ort, provider. */
  fingerprint: z.string(),
});
export type Runner = z.infer<typeof RunnerSchema>;

export const PerplexitySchema = z.object({
  dataset: z.string(),
  /** e.g. "sliding-window", "paper-nonoverlap", "masked-lm", "pseudo-ppl", "seq2seq-chunk". */
  protocol: z.string(),
  seqLen: z.number().int().positive(),
  stride: z.number().int().positive().optional(),
  token: z.number().positive(),
  word: z.number().positive(),
  bitsPerByte: z.number().nonnegative(),
  nll: z.number(),
  tokens: z.number().int().nonnegative(),
  words: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  /** True when stopped early (time limit, SIGINT): the numbers cover `tokens` only. */
  partial: z.boolean(),
  seconds: z.number().nonnegative(),
});
export type Perplexity = z.infer<typeof PerplexitySchema>;

export const LatencySchema = z.object({
  provider: z.enum(["cpu", "cuda"]),
  batch: z.number().int().positive(),
  seqLen: z.number().int().positive(),
  threads: z.number().int().nonnegative().optional(),
  /** Raw timed samples in ms, kept so comparisons can use statistics. */
  samplesMs: z.array(z.number().nonnegative()),
  p50: z.number().nonnegative(),
  p90: z.number().nonnegative(),
  p99: z.number().nonnegative(),
  mean: z.number().nonnegative(),
  std: z.number().nonnegative(),
  tokensPerSecond: z.number().nonnegative(),
  sessionMs: z.number().nonnegative(),
  peakRssBytes: z.number().nonnegative().optional(),
  warmup: z.number().int().nonnegative(),
});
export type Latency = z.infer<typeof LatencySchema>;

/**
 * How a run was fine-tuned. The built-in trainer reports steps, tokens and losses; an external
 * trainer (finetune.command) reports none of them, so they are absent there (never NaN, which
 * JSON cannot hold), and what prunebench measured after it is kept instead.
 */
export const FinetuneSummarySchema = z
  .object({
    trainer: z.enum(["builtin", "command"]),
    steps: z.number().int().nonnegative().optional(),
    tokens: z.number().int().nonnegative().optional(),
    /** Validation loss before the first step, and of the weights kept. */
    lossStart: z.number().optional(),
    lossEnd: z.number().optional(),
    seconds: z.number().nonnegative(),
    /** The validation text, e.g. "bundled/train, last 10% held out" or "bundled/valid". */
    validation: z.string().optional(),
    /** Step of the weights kept (the lowest validation loss; 0 when no step improved it). */
    bestStep: z.number().int().nonnegative().optional(),
    /** External trainer: pruned weights it had moved off zero, set back to zero afterwards. */
    reapplied: z.number().int().nonnegative().optional(),
  })
  .superRefine((s, ctx) => {
    if (s.trainer !== "builtin") return;
    for (const key of ["steps", "tokens", "lossStart", "lossEnd"] as const) {
      if (s[key] === undefined) ctx.addIssue({ code: "custom", path: [key], message: "required for the built-in trainer" });
    }
  });

export const RunSchema = z.object({
  /** Stable key, e.g. "magnitude@0.5", "nm:2:4@0.5+ft". */
  id: z.string(),
  /** "dense", "magnitude", "global", "random", "nm", "wanda", "sparsegpt", "owl-wanda", "structured", ... */
  method: z.string(),
  options: z.record(z.string(), z.unknown()).default({}),
  sparsity: z.number().min(0).max(1),
  achievedSparsity: z.number().min(0).max(1),
  /** Parameters counted after pruning (structured pruning really removes them). */
  params: z.number().int().nonnegative(),
  nonzeroParams: z.number().int().nonnegative(),
  sizeBytes: z.number().int().nonnegative(),
  finetuned: z.boolean(),
  finetune: FinetuneSummarySchema.optional(),
  perplexity: PerplexitySchema.optional(),
  latency: z.array(LatencySchema).default([]),
  seconds: z.record(z.string(), z.number().nonnegative()).default({}),
  /** A run that failed keeps its error; the others still report. */
  error: z.string().optional(),
  /** Evaluated by the budget search (prune.budget), not a point of the config's sweep. */
  search: z.boolean().optional(),
});
export type Run = z.infer<typeof RunSchema>;

export const SensitivitySchema = z.object({
  method: z.string(),
  sparsity: z.number(),
  baseline: z.number().positive(),
  layers: z.array(
    z.object({ part: z.string(), layer: z.number().int().nonnegative(), perplexity: z.number().positive(), increase: z.number() }),
  ),
});
export type Sensitivity = z.infer<typeof SensitivitySchema>;

export const BudgetPointSchema = z.object({ sparsity: z.number().min(0).max(1), increase: z.number(), run: z.string() });

/** One budget search: a method (with or without fine-tuning, uniform or allocated per layer). */
export const BudgetSearchSchema = z.object({
  /** The method as the report names its series: "sparsegpt", "magnitude:global", "magnitude:sensitivity". */
  label: z.string(),
  method: z.string(),
  finetuned: z.boolean(),
  allocation: z.enum(["uniform", "sensitivity"]),
  /** Highest sparsity measured within the budget (0: not even the first grid point was). */
  within: BudgetPointSchema,
  /** Lowest sparsity measured beyond it; null when the grid ran out below 100%. */
  beyond: BudgetPointSchema.nullable(),
  /** Share of the prunable weights zeroed at `within` (the allocation's overall sparsity). */
  achieved: z.number().min(0).max(1),
  points: z.array(BudgetPointSchema),
  evaluations: z.number().int().nonnegative(),
  reused: z.number().int().nonnegative(),
  /** Per-layer sparsities at `within` (allocated searches). */
  layers: z.array(z.object({ part: z.string(), layer: z.number().int().nonnegative(), sparsity: z.number() })).optional(),
  error: z.string().optional(),
});
export type BudgetSearchRecord = z.infer<typeof BudgetSearchSchema>;

export const BudgetResultSchema = z.object({
  metric: z.literal("perplexity"),
  /** Relative increase allowed: 0.02 is +2%. */
  maxIncrease: z.number().nonnegative(),
  tolerance: z.number().positive(),
  dense: z.number().positive(),
  /** From the config's regression.reach: a fall of the reach beyond this is a regression. */
  reachTolerance: z.number().nonnegative(),
  searches: z.array(BudgetSearchSchema),
});
export type BudgetResult = z.infer<typeof BudgetResultSchema>;

export const TextOverlapSchema = z.object({
  /** What the overlapping text is used for. */
  use: z.enum(["calibration", "fine-tuning", "validation"]),
  /** The config field and its dataset, e.g. prune.calibration.dataset. */
  field: z.string(),
  dataset: z.string(),
  /** The evaluation text it overlaps and the byte range of that text both read. */
  evaluation: z.string(),
  bytes: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
  /** Methods whose runs are affected ("*" for every fine-tuned run). */
  methods: z.array(z.string()),
});
export type TextOverlap = z.infer<typeof TextOverlapSchema>;

export const ResultSchema = z.object({
  schema: z.literal(RESULT_SCHEMA_VERSION),
  model: z.string(),
  family: z.enum(["decoder", "encoder", "encoder-decoder"]),
  architecture: z.string(),
  configHash: z.string(),
  commit: z.string().nullable(),
  createdAt: z.string(),
  runner: RunnerSchema,
  analysis: AnalysisSchema.optional(),
  runs: z.array(RunSchema).default([]),
  sensitivity: SensitivitySchema.optional(),
  budget: BudgetResultSchema.optional(),
  timings: z.record(z.string(), z.number().nonnegative()).default({}),
  warnings: z.array(z.string()).default([]),
  /** Calibration or fine-tuning text that is also evaluation text: those runs' perplexities are optimistic. */
  overlaps: z.array(TextOverlapSchema).optional(),
  /** Matrix shard that wrote it, when sharded. */
  shard: z.string().optional(),
});
export type Result = z.infer<typeof ResultSchema>;
export type ResultInput = z.input<typeof ResultSchema>;
