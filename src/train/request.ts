/**
 * One fine-tune as plain data: what `prunebench finetune` builds from its flags and the
 * pipeline's finetune stage from a config, run by the same function. The recipe is the config
 * schema's finetune section (src/config/schema.ts), so a default is defined there and only
 * there, and the same study from the command line and from `prunebench run` trains alike.
 */
import path from "node:path";
import type { z } from "zod";
import { EXIT, UserError } from "../errors.ts";
import { FinetuneSchema, warmupSteps, type FinetuneConfig } from "../config/schema.ts";
import { BYTE_TOKENIZER, datasetTokens } from "../eval/token-cache.ts";
import { loadTokenizer } from "../eval/tokenizer.ts";
import { mapModel } from "../models/index.ts";
import type { Family } from "../models/types.ts";
import { checkFiniteWeights } from "../onnx/finite.ts";
import { readModel } from "../onnx/model.ts";
import { writeModel } from "../onnx/write.ts";
import { runExternalTrainer, type ExternalTrainerResult } from "./external.ts";
import { loadMasks, masksFromZeros, type Masks } from "./masks.ts";
import { finetune, type TrainProgress, type TrainResult } from "./train.ts";

export interface FinetuneRequest {
  /** The model file fine-tuned. */
  model: string;
  /** Where the tuned model is written (the original graph with new weights). */
  out: string;
  /** A mask file (`prunebench prune --mask`): pruned weights stay exactly zero. */
  mask?: string;
  /** Without a mask file: the model's exactly-zero matrix weights are its mask. */
  keepZeros?: boolean;
  /** Detected from the graph when left out. */
  family?: Family;
  /** A tokenizer file or folder, or "bytes" (the built-in trainer needs one; an external command does not). */
  tokenizer?: string;
  /** The recipe, every default filled in from the config schema. */
  recipe: FinetuneConfig;
  /** Tokens per sequence: the recipe's seq_len, or its default cut to the model's positions. */
  seqLen: number;
  /** Dataset files (and the external command) are relative to this folder: the config's. */
  baseDir?: string;
  cacheDir: string;
  /** Checkpoint file, written every checkpointEvery(steps) steps. */
  checkpoint?: string;
  /** Resume from `checkpoint` when it exists. */
  resume?: boolean;
  provider?: "cpu" | "cuda";
}

export type FinetuneRecipeInput = z.input<typeof FinetuneSchema>;

/**
 * The request with the recipe's left-out fields filled in from the schema's defaults. A field
 * the schema refuses is a usage error (exit code 2) naming it as `name` says: a flag on the
 * command line (a config's recipe was checked when the config was read).
 */
export function finetuneRequest(input: Omit<FinetuneRequest, "recipe"> & { recipe: FinetuneRecipeInput }, name: (field: string) => string = (f) => `finetune.${f}`): FinetuneRequest {
  const parsed = FinetuneSchema.safeParse(input.recipe);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue.path[0] ?? "");
    const given = (input.recipe as Record<string, unknown>)[field];
    throw new UserError(`${name(field)}: ${issue.message}${given === undefined ? "" : `, got ${JSON.stringify(given)}`}`, { exitCode: EXIT.usage });
  }
  return { ...input, recipe: parsed.data };
}

/** Checkpoints of a built-in fine-tune: ten over the run, and never more often than every 10 steps. */
export function checkpointEvery(steps: number): number {
  return Math.max(10, Math.ceil(steps / 10));
}

export type FinetuneOutcome =
  | {
      trainer: "builtin";
      result: TrainResult;
      family: Family;
      /** How results name the training text and the validation text. */
      dataset: string;
      validation: string;
      /** Tokens trained on. */
      tokens: number;
    }
  | { trainer: "command"; external: ExternalTrainerResult };

export interface FinetuneHooks {
  onProgress?: (event: TrainProgress) => void;
  /** The external command's output (default: inherited stdout/stderr). */
  onOutput?: (chunk: string) => void;
}

/**
 * Runs a fine-tune request: the recipe's external command, after which the masks are
 * re-applied and checked, or the built-in trainer, which keeps the weights of the lowest
 * validation loss (the start included) and masks and starts sequences with the tokenizer's own
 * special ids, as evaluation does. Writes `request.out`.
 */
export async function runFinetune(request: FinetuneRequest, hooks: FinetuneHooks = {}): Promise<FinetuneOutcome> {
  const { recipe } = request;
  const model = readModel(request.model);
  checkFiniteWeights(model);
  const masks: Masks | undefined = request.mask ? loadMasks(request.mask) : request.keepZeros ? masksFromZeros(model) : undefined;
  if (recipe.command) {
    // Absolute paths: the command runs in the config's folder.
    const external = await runExternalTrainer({ command: recipe.command, model: path.resolve(request.model), out: path.resolve(request.out), masks, cwd: request.baseDir, onOutput: hooks.onOutput });
    return { trainer: "command", external };
  }
  if (!request.tokenizer) throw new Error("finetune: the built-in trainer needs a tokenizer");
  const family = request.family ?? mapModel(model).family;
  const data = { tokenizer: request.tokenizer, cacheDir: request.cacheDir, configDir: request.baseDir };
  const train = await datasetTokens(recipe.dataset, data);
  // A validation text when one is named; otherwise the trainer holds out the last 10% of the training text.
  const valid = recipe.validation ? await datasetTokens(recipe.validation, data) : undefined;
  const specials = request.tokenizer === BYTE_TOKENIZER ? {} : loadTokenizer(request.tokenizer).specials;
  const result = await finetune({
    model,
    family,
    tokens: train.tokens,
    validTokens: valid?.tokens,
    keepBest: true,
    steps: recipe.steps,
    lr: recipe.lr,
    batch: recipe.batch,
    seqLen: request.seqLen,
    warmup: warmupSteps(recipe.warmup, recipe.steps),
    schedule: recipe.schedule,
    weightDecay: recipe.weight_decay,
    clipNorm: recipe.clip,
    accumulate: recipe.accumulate,
    evalEvery: recipe.eval_every,
    evalBatches: recipe.eval_batches,
    patience: recipe.patience,
    seed: recipe.seed,
    masks,
    maskToken: specials.mask,
    decoderStart: specials.pad ?? specials.eos ?? 0,
    checkpoint: request.checkpoint ? { file: request.checkpoint, every: checkpointEvery(recipe.steps) } : undefined,
    resume: request.resume,
    session: request.provider ? { provider: request.provider } : undefined,
    onProgress: hooks.onProgress,
  });
  writeModel(result.model, request.out);
  return {
    trainer: "builtin",
    result,
    family,
    dataset: train.label,
    validation: valid ? valid.label : `${train.label}, last 10% held out`,
    tokens: result.steps * recipe.batch * recipe.accumulate * request.seqLen,
  };
}
