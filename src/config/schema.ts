import { z } from "zod";
import { MASK_METHOD_NAMES, METHOD_NAMES } from "../prune/registry.ts";

/**
 * The model config a user keeps in their repo (models/*.yml). One definition gives the
 * runtime validation, the TypeScript types and the JSON Schema for editors.
 */

const Fraction = z.number().min(0).lt(1);
/** "1%" or 0.01. */
const Relative = z.union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?%$/, "a percentage such as \"1%\"")]);

export const HubSourceSchema = z.strictObject({
  repo: z.string().regex(/^[\w.-]+\/[\w.-]+$/, "owner/name"),
  file: z.string().min(1),
  revision: z.string().min(1).default("main"),
  tokenizer: z.string().optional(),
});

export const ModelSourceSchema = z
  .strictObject({
    path: z.string().min(1).optional(),
    hf: HubSourceSchema.optional(),
    tokenizer: z.string().min(1).optional(),
    family: z.enum(["decoder", "encoder", "encoder-decoder"]).optional(),
  })
  .refine((m) => Boolean(m.path) !== Boolean(m.hf), { message: "give exactly one of 'path' or 'hf'" });

/** The registered methods (src/prune/registry.ts). */
const MethodName = z.enum(METHOD_NAMES, { error: (issue) => `unknown pruning method ${JSON.stringify(issue.input)}; known: ${METHOD_NAMES.join(", ")}` });

/** A method is a name, or a one-key map from the name to its options. */
export const MethodSchema = z.union(
  [
    MethodName,
    z
      .partialRecord(MethodName, z.union([z.record(z.string(), z.unknown()), z.string(), z.null()], { error: "a method's options are a map, a single value (e.g. \"2:4\") or nothing" }))
      .refine((m) => Object.keys(m).length === 1, {
        message: "a method with options is a map with one key, e.g. { nm: \"2:4\" }",
      }),
  ],
  { error: (issue) => (typeof issue.input === "string" ? `unknown pruning method ${JSON.stringify(issue.input)}; known: ${METHOD_NAMES.join(", ")}` : `a method is a name (${METHOD_NAMES.join(", ")}) or a map from one name to its options`) },
);
export type MethodSpec = z.infer<typeof MethodSchema>;

export const DatasetRefSchema = z.string().min(1);

/**
 * Sequence lengths a config leaves out: these, cut to the model's positions (the run says so);
 * a value written in the config is used as is, and refused when past them.
 */
export const DEFAULT_SEQ_LEN = { eval: 1024, finetune: 128, calibration: 512 } as const;

export const CalibrationSchema = z.strictObject({
  dataset: DatasetRefSchema.default("bundled/train"),
  samples: z.number().int().positive().default(128),
  seq_len: z.number().int().positive().optional(),
  seed: z.number().int().default(0),
});

/**
 * prune.budget: for each mask method, the highest sparsity whose perplexity increase over dense
 * stays within max_increase, found to within `tolerance` (src/prune/budget.ts).
 */
export const BudgetSchema = z.strictObject({
  max_increase: Relative.default("2%"),
  metric: z.literal("perplexity").default("perplexity"),
  /** Search the fine-tuned models too (needs the config's finetune section). */
  finetune: z.boolean().default(false),
  tolerance: z.number().gt(0).lt(0.5).default(0.01),
  /**
   * Per-layer sparsities from the sensitivity scan (needs prune.sensitivity): less sensitive
   * layers are pruned more, by up to lambda either side of the overall sparsity.
   */
  allocation: z.union([z.literal(false), z.strictObject({ from: z.literal("sensitivity").default("sensitivity"), lambda: z.number().gt(0).lt(0.5).default(0.1) })]).default(false),
});

export const PruneSchema = z.strictObject({
  include: z.array(z.string()).optional(),
  exclude: z.array(z.string()).optional(),
  methods: z.array(MethodSchema).min(1).default(["magnitude"]),
  sparsity: z.array(Fraction).min(1).default([0.5]),
  calibration: CalibrationSchema.prefault({}),
  sensitivity: z.union([z.literal(false), z.strictObject({ method: z.enum(MASK_METHOD_NAMES).default("magnitude"), sparsity: Fraction.default(0.5) })]).default(false),
  budget: BudgetSchema.optional(),
});

/**
 * The fine-tuning recipe, for `prunebench run` (a config's finetune section) and
 * `prunebench finetune` (its flags are these keys) alike: src/train/request.ts builds both.
 * Batch 8 is Hugging Face Trainer's per-device default; decoupled weight decay 0.01 on the
 * matrices and a linear warm-up over the first 5% of steps are the BERT/RoBERTa fine-tuning
 * recipe: Adam's second-moment estimates are poor in the first steps, and a model that pruning
 * has just disturbed should not take its largest steps then.
 */
export const FinetuneSchema = z
  .strictObject({
    steps: z.number().int().positive().default(100),
    lr: z.number().positive().default(5e-5),
    batch: z.number().int().positive().default(8),
    seq_len: z.number().int().positive().optional(),
    dataset: DatasetRefSchema.default("bundled/train"),
    /** Text whose loss picks the weights kept; the last 10% of `dataset`, held out from training, when absent. */
    validation: DatasetRefSchema.optional(),
    /** Warm-up steps, or a share of `steps` ("5%"). */
    warmup: z.union([z.number().int().nonnegative(), z.string().regex(/^\d+(\.\d+)?%$/, "a step count or a share of steps such as \"5%\"")]).default("5%"),
    weight_decay: z.number().nonnegative().default(0.01),
    /** Decay after warm-up. */
    schedule: z.enum(["linear", "cosine", "constant"]).default("linear"),
    /** Clip the global gradient norm to this (0: off). */
    clip: z.number().nonnegative().default(1),
    /** Micro-batches summed into one step. */
    accumulate: z.number().int().positive().default(1),
    /** Validate every this many steps (default: steps / 5). */
    eval_every: z.number().int().positive().optional(),
    /** Validation batches (of `batch` sequences). */
    eval_batches: z.number().int().positive().default(4),
    /** Stop after this many validations without improvement (the best weights are kept either way). */
    patience: z.number().int().positive().optional(),
    seed: z.number().int().default(0),
    /** An external trainer: a shell command that reads {model} and writes {out} (src/train/external.ts). */
    command: z.string().refine((c) => c.includes("{out}"), "must contain {out}, where the trained model is written").optional(),
  });
export type FinetuneConfig = z.infer<typeof FinetuneSchema>;

/** The recipe's defaults, for code that does not start from a config (the training loop, the CLI's help). */
export const FINETUNE_DEFAULTS: FinetuneConfig = FinetuneSchema.parse({});

/** Warm-up steps of a recipe: a count as given, a share ("5%") of `steps` rounded down. */
export function warmupSteps(warmup: number | string, steps: number): number {
  return typeof warmup === "number" ? warmup : Math.floor((steps * Number(warmup.slice(0, -1))) / 100);
}

/** Weight statistics: the fraction of weights with |w| below each cutoff. */
export const AnalyzeSchema = z.strictObject({ cutoffs: z.array(z.number().positive()).default([0.1, 0.01, 0.001]) });

export const PerplexityEvalSchema = z.strictObject({
  dataset: DatasetRefSchema.default("bundled/test"),
  seq_len: z.number().int().positive().optional(),
  stride: z.number().int().positive().optional(),
  protocol: z.enum(["sliding-window", "paper-nonoverlap", "masked-lm", "pseudo-ppl", "seq2seq-chunk", "seq2seq-denoise"]).optional(),
  max_tokens: z.number().int().positive().optional(),
  seed: z.number().int().default(0),
});

export const LatencyEvalSchema = z.strictObject({
  batch: z.array(z.number().int().positive()).default([1]),
  seq_len: z.array(z.number().int().positive()).default([128]),
  providers: z.array(z.enum(["cpu", "cuda"])).default(["cpu"]),
  threads: z.number().int().nonnegative().default(0),
  budget_ms: z.number().positive().default(2000),
  warmup: z.number().int().nonnegative().default(3),
});

/** The perplexity section's defaults, for code that does not start from a config (the CLI's help). */
export const PERPLEXITY_DEFAULTS = PerplexityEvalSchema.parse({});

/** Latency's defaults, for code that does not start from a config (the latency loop, the CLI's help). */
export const LATENCY_DEFAULTS = LatencyEvalSchema.parse({});

export const RegressionSchema = z.strictObject({
  perplexity: z.strictObject({ max_increase: Relative.default("1%"), abs_tolerance: z.number().nonnegative().default(1e-3) }).prefault({}),
  latency: z.strictObject({ max_increase: Relative.default("5%"), confidence: z.number().gt(0).lt(1).default(0.99) }).prefault({}),
  /** A budget search's reach (prune.budget) falling by more than this (in sparsity, 0.02 = 2 points) is a regression. */
  reach: z.strictObject({ max_decrease: Fraction.default(0.02) }).prefault({}),
});

export const ConfigSchema = z.strictObject({
  name: z.string().regex(/^[\w.-]+$/, "letters, digits, '.', '_' and '-'"),
  model: ModelSourceSchema,
  analyze: AnalyzeSchema.prefault({}),
  prune: PruneSchema.prefault({}),
  finetune: FinetuneSchema.optional(),
  eval: z
    .strictObject({
      perplexity: z.union([PerplexityEvalSchema, z.literal(false)]).prefault({}),
      latency: z.union([LatencyEvalSchema, z.literal(false)]).prefault({}),
    })
    .prefault({}),
  regression: RegressionSchema.prefault({}),
}).superRefine((c, ctx) => {
  // The budget search measures perplexity and may fine-tune and allocate: each needs its section.
  const budget = c.prune.budget;
  if (!budget) return;
  if (!c.eval.perplexity) ctx.addIssue({ code: "custom", path: ["prune", "budget"], message: "the budget search measures perplexity: eval.perplexity must not be false" });
  if (budget.finetune && !c.finetune) ctx.addIssue({ code: "custom", path: ["prune", "budget", "finetune"], message: "true needs a finetune section" });
  if (budget.allocation && !c.prune.sensitivity) ctx.addIssue({ code: "custom", path: ["prune", "budget", "allocation"], message: "allocating from the sensitivity scan needs prune.sensitivity" });
});
export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/** "1%" -> 0.01; numbers pass through. */
export function relative(value: number | string): number {
  return typeof value === "number" ? value : Number(value.slice(0, -1)) / 100;
}
