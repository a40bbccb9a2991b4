import path from "node:path";
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { UsageError } from "./errors.ts";
import { fileInputs, modelInputs, refuseOverwrites, type InputFile, type OutputPath } from "../util/overwrite.ts";
import { DEFAULT_SEQ_LEN, FINETUNE_DEFAULTS } from "../config/schema.ts";
import { BYTE_TOKENIZER, defaultCacheDir } from "../eval/token-cache.ts";
import { fitSequenceLength } from "../models/index.ts";
import type { Family } from "../models/types.ts";
import { modelFileLimits } from "./eval.ts";
import { finetuneRequest, runFinetune, type FinetuneRecipeInput, type FinetuneRequest } from "../train/request.ts";
import { writeJsonAtomic } from "../util/atomic.ts";

export interface FinetuneCommandOptions {
  out: string;
  mask?: string;
  keepZeros?: boolean;
  dataset?: string;
  validDataset?: string;
  tokenizer?: string;
  family?: string;
  steps?: string;
  lr?: string;
  batch?: string;
  seqLen?: string;
  warmup?: string;
  schedule?: string;
  weightDecay?: string;
  clip?: string;
  accumulate?: string;
  evalEvery?: string;
  evalBatches?: string;
  patience?: string;
  seed?: string;
  checkpoint?: string;
  resume?: boolean;
  command?: string;
  provider?: string;
  cache?: string;
  json?: string;
}

const FAMILIES = ["decoder", "encoder", "encoder-decoder"];

/** The recipe's keys as flags: weight_decay is --weight-decay; the validation text is --valid-dataset. */
function flagOf(field: string): string {
  return field === "validation" ? "--valid-dataset" : `--${field.replaceAll("_", "-")}`;
}

/** A number flag as the schema checks it: a string that is no number stays a string, and the schema names it. */
function numeric(value: string | undefined): number | string | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  return value.trim() === "" || Number.isNaN(n) ? value : n;
}

/**
 * `prunebench finetune`'s flags as the request a config's finetune section makes: what a flag
 * leaves out is the config schema's default, and --seq-len left out is the default cut to the
 * model's positions, as `prunebench run` cuts it.
 */
export function finetuneRequestFromFlags(modelFile: string, o: FinetuneCommandOptions): FinetuneRequest {
  if (!o.out) throw new UsageError("--out <tuned.onnx> is required");
  if (o.provider !== undefined && o.provider !== "cpu" && o.provider !== "cuda") throw new UsageError(`--provider: expected cpu or cuda, got ${JSON.stringify(o.provider)}`);
  if (o.family !== undefined && !FAMILIES.includes(o.family)) throw new UsageError(`--family: expected ${FAMILIES.join(", ")}, got ${JSON.stringify(o.family)}`);
  if (o.mask && o.keepZeros) throw new UsageError("--mask and --keep-zeros: give one (the mask file, or the model's zeros as its mask)");
  refuseOverwrites(...finetuneFiles(modelFile, o));
  // Unchecked here: the schema checks every field and finetuneRequest names the flag.
  const recipe = {
    steps: numeric(o.steps),
    lr: numeric(o.lr),
    batch: numeric(o.batch),
    seq_len: numeric(o.seqLen),
    dataset: o.dataset,
    validation: o.validDataset,
    warmup: o.warmup?.endsWith("%") ? o.warmup : numeric(o.warmup),
    weight_decay: numeric(o.weightDecay),
    schedule: o.schedule,
    clip: numeric(o.clip),
    accumulate: numeric(o.accumulate),
    eval_every: numeric(o.evalEvery),
    eval_batches: numeric(o.evalBatches),
    patience: numeric(o.patience),
    seed: numeric(o.seed),
    command: o.command,
  } as FinetuneRecipeInput;
  const base = { model: modelFile, out: o.out, mask: o.mask, keepZeros: o.keepZeros, family: o.family as Family | undefined, cacheDir: o.cache ?? defaultCacheDir(), checkpoint: o.checkpoint, resume: o.resume, provider: o.provider as FinetuneRequest["provider"] };
  if (o.command) return finetuneRequest({ ...base, tokenizer: o.tokenizer, recipe, seqLen: DEFAULT_SEQ_LEN.finetune }, flagOf);
  if (!o.dataset) throw new UsageError("--dataset <bundled/train | wikitext-2-raw/train | folder:train | text file> is required (or --command for an external trainer)");
  const tokenizer = o.tokenizer ?? path.join(path.dirname(modelFile), "tokenizer.json");
  if (tokenizer !== BYTE_TOKENIZER && !existsSync(tokenizer)) throw new UsageError(`--tokenizer: ${tokenizer} not found (give a tokenizer file or folder, or "bytes")`);
  const request = finetuneRequest({ ...base, tokenizer, recipe, seqLen: DEFAULT_SEQ_LEN.finetune }, flagOf);
  const fitted = fitSequenceLength(request.recipe.seq_len, DEFAULT_SEQ_LEN.finetune, modelFileLimits(modelFile, base.family) ?? {}, "--seq-len");
  if (fitted.error) throw new UsageError(fitted.error);
  if (fitted.note) console.error(`finetune: ${fitted.note}`);
  return { ...request, seqLen: fitted.seqLen };
}

/** What finetune reads and writes, for refuseOverwrites (the checkpoint is its own to rewrite). */
function finetuneFiles(modelFile: string, o: FinetuneCommandOptions): [InputFile[], OutputPath[]] {
  const inputs = [
    ...modelInputs(modelFile),
    ...fileInputs([[o.mask, "the mask (--mask)"], [o.tokenizer ?? path.join(path.dirname(modelFile), "tokenizer.json"), "the tokenizer"], [o.dataset, "the training text (--dataset)"], [o.validDataset, "the validation text (--valid-dataset)"]]),
  ];
  const outputs: OutputPath[] = [{ path: o.out, flag: "--out" }, { path: `${o.out}.data`, flag: "--out (its external data)" }];
  if (o.json) outputs.push({ path: o.json, flag: "--json" });
  if (o.checkpoint) outputs.push({ path: o.checkpoint, flag: "--checkpoint" });
  return [inputs, outputs];
}

export async function finetuneCommand(modelFile: string, o: FinetuneCommandOptions): Promise<Record<string, unknown>> {
  const request = finetuneRequestFromFlags(modelFile, o);
  let lastLog = 0;
  const outcome = await runFinetune(request, {
    onProgress: (e) => {
      if (e.kind === "validation") console.error(`finetune: step ${e.step}: validation loss ${e.loss.toFixed(4)}, perplexity ${e.perplexity.toFixed(3)}`);
      else if (e.kind === "step" && (Date.now() - lastLog > 5000 || e.step === e.steps)) {
        lastLog = Date.now();
        console.error(`finetune: step ${e.step}/${e.steps} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} |g| ${e.gradNorm.toFixed(3)} ${e.tokensPerSecond.toFixed(0)} tokens/s`);
      }
    },
  });
  if (outcome.trainer === "command") {
    const result = outcome.external;
    console.error(`finetune: external trainer done in ${result.seconds.toFixed(1)} s; masks re-applied to ${result.reapplied} weights${result.sparsity ? `, sparsity ${result.sparsity.sparsity.toFixed(4)}` : ""}`);
    const summary = { model: modelFile, external: true, ...result };
    if (o.json) writeJsonAtomic(o.json, summary);
    return summary;
  }
  const { result } = outcome;
  const summary = {
    model: modelFile,
    out: request.out,
    family: outcome.family,
    dataset: outcome.dataset,
    validationDataset: outcome.validation,
    steps: result.steps,
    tokens: outcome.tokens,
    stoppedEarly: result.stoppedEarly,
    initial: result.initial,
    final: result.final,
    validation: result.validation,
    tokensPerSecond: result.tokensPerSecond,
    seconds: result.seconds,
    trainable: result.trainable.length,
    tied: result.tied,
    sparsity: result.sparsity,
  };
  console.error(
    `finetune: validation perplexity ${result.initial.perplexity.toFixed(3)} -> ${result.final.perplexity.toFixed(3)} (best at step ${result.final.step} of ${result.steps}, kept)` +
      `${result.sparsity ? `; sparsity ${result.sparsity.sparsity.toFixed(4)} kept exactly (${result.sparsity.violations.length} violations)` : ""}; wrote ${request.out}`,
  );
  if (o.json) writeJsonAtomic(o.json, summary);
  return summary;
}

export function register(program: Command): void {
  const d = FINETUNE_DEFAULTS;
  program
    .command("finetune <model>")
    .description("fine-tune a (pruned) model with its masks kept, or train a built model from scratch; the flags are a config's finetune keys, with its defaults")
    .requiredOption("--out <file>", "where the tuned model is written (the original graph with new weights, those of the lowest validation loss)")
    .option("--mask <file>", "pruning mask file from `prunebench prune` (pruned weights stay exactly zero)")
    .option("--keep-zeros", "treat the model's exactly-zero matrix weights as its mask")
    .option("--dataset <ref>", "bundled/train, wikitext-2-raw/train, <folder>:train or a text file")
    .option("--valid-dataset <ref>", "validation text, whose loss picks the weights kept (default: the last 10% of --dataset, held out from training)")
    .option("--tokenizer <file>", 'tokenizer.json / vocab.json / vocab.txt / folder, or "bytes" (default: tokenizer.json beside the model)')
    .option("--family <family>", "decoder | encoder | encoder-decoder (detected when left out)")
    .option("--steps <n>", `optimizer steps (default ${d.steps})`)
    .option("--lr <lr>", `peak learning rate (default ${d.lr})`)
    .option("--batch <n>", `sequences per micro-batch (default ${d.batch})`)
    .option("--seq-len <n>", `tokens per sequence (default ${DEFAULT_SEQ_LEN.finetune}, cut to the model's positions)`)
    .option("--warmup <n|share>", `warm-up steps, or a share of --steps such as 10% (default ${d.warmup})`)
    .option("--schedule <kind>", `linear | cosine | constant decay after warm-up (default ${d.schedule})`)
    .option("--weight-decay <x>", `AdamW decoupled weight decay, matrices only (default ${d.weight_decay})`)
    .option("--clip <x>", `clip the global gradient norm, 0: off (default ${d.clip})`)
    .option("--accumulate <n>", `micro-batches per step (default ${d.accumulate})`)
    .option("--eval-every <n>", "validate every n steps (default steps/5)")
    .option("--eval-batches <n>", `validation batches (default ${d.eval_batches})`)
    .option("--patience <n>", "stop after n validations without improvement")
    .option("--seed <n>", `seed for batches and masking (default ${d.seed})`)
    .option("--checkpoint <file>", "write a checkpoint every steps/10 steps (at least 10 apart) and at the end")
    .option("--resume", "resume from --checkpoint when it exists")
    .option("--command <cmd>", "external trainer: a shell command with {model} and {out}; masks are re-applied afterwards")
    .option("--provider <name>", "onnxruntime execution provider (cpu, cuda)")
    .option("--cache <dir>", "cache folder for downloads and token ids")
    .option("--json <file>", "write the result summary as JSON")
    .action(async (model: string, options: FinetuneCommandOptions) => {
      await finetuneCommand(model, options);
    });
}
