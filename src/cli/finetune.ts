import { existsSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { UsageError } from "./errors.ts";
import { fileInputs, modelInputs, refuseOverwrites, type InputFile, type OutputPath } from "../util/overwrite.ts";
import { checkFiniteWeights } from "../onnx/finite.ts";
import { readModel } from "../onnx/model.ts";
import { writeModel } from "../onnx/write.ts";
import { mapModel } from "../models/index.ts";
import type { Family } from "../models/types.ts";
import type { Provider } from "../eval/session.ts";
import { datasetTokens, defaultCacheDir } from "../eval/token-cache.ts";
import { finetune, type TrainResult } from "../train/train.ts";
import { loadMasks, masksFromZeros, type Masks } from "../train/masks.ts";
import { runExternalTrainer } from "../train/external.ts";
import type { Schedule } from "../train/optimizer.ts";
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

function int(value: string | undefined, flag: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

function num(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag}: expected a number >= 0, got ${JSON.stringify(value)}`);
  return n;
}

function validRef(ref: string): string | undefined {
  if (/\/train$/.test(ref)) return ref.replace(/\/train$/, "/valid");
  if (/:train$/.test(ref)) return ref.replace(/:train$/, ":valid");
  return undefined;
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
  if (!o.out) throw new UsageError("--out <tuned.onnx> is required");
  if (o.provider !== undefined && o.provider !== "cpu" && o.provider !== "cuda") throw new UsageError(`--provider: expected cpu or cuda, got ${JSON.stringify(o.provider)}`);
  refuseOverwrites(...finetuneFiles(modelFile, o));
  const model = readModel(modelFile);
  checkFiniteWeights(model);
  let masks: Masks | undefined;
  if (o.mask) masks = loadMasks(o.mask);
  else if (o.keepZeros) masks = masksFromZeros(model);

  if (o.command) {
    const result = await runExternalTrainer({ command: o.command, model: path.resolve(modelFile), out: path.resolve(o.out), masks });
    console.error(`finetune: external trainer done in ${result.seconds.toFixed(1)} s; masks re-applied to ${result.reapplied} weights${result.sparsity ? `, sparsity ${result.sparsity.sparsity.toFixed(4)}` : ""}`);
    const summary = { model: modelFile, external: true, ...result };
    if (o.json) writeJsonAtomic(o.json, summary);
    return summary;
  }

  if (!o.dataset) throw new UsageError("--dataset <bundled/train | wikitext-2-raw/train | folder:train | text file> is required (or --command for an external trainer)");
  const family = (o.family ?? mapModel(model).family) as Family;
  if (!["decoder", "encoder", "encoder-decoder"].includes(family)) throw new UsageError(`--family: expected decoder, encoder or encoder-decoder, got ${JSON.stringify(o.family)}`);
  const tokenizerRef = o.tokenizer ?? path.join(path.dirname(modelFile), "tokenizer.json");
  if (tokenizerRef !== "bytes" && !existsSync(tokenizerRef)) throw new UsageError(`--tokenizer: ${tokenizerRef} not found (give a tokenizer file or folder, or "bytes")`);
  const cacheDir = o.cache ?? defaultCacheDir();
  const train = await datasetTokens(o.dataset, { tokenizer: tokenizerRef, cacheDir });
  const validSource = o.validDataset ?? validRef(o.dataset);
  const valid = validSource ? await datasetTokens(validSource, { tokenizer: tokenizerRef, cacheDir }) : undefined;
  const steps = int(o.steps, "--steps", 100);
  const schedule = (o.schedule ?? "linear") as Schedule;
  if (!["linear", "cosine", "constant"].includes(schedule)) throw new UsageError(`--schedule: expected linear, cosine or constant, got ${JSON.stringify(o.schedule)}`);
  let lastLog = 0;
  const result: TrainResult = await finetune({
    model,
    family,
    tokens: train.tokens,
    validTokens: valid?.tokens,
    steps,
    lr: num(o.lr, "--lr", 5e-5),
    batch: int(o.batch, "--batch", 8),
    seqLen: int(o.seqLen, "--seq-len", 128),
    warmup: o.warmup !== undefined ? int(o.warmup, "--warmup", 0, 0) : undefined,
    schedule,
    weightDecay: num(o.weightDecay, "--weight-decay", 0.01),
    clipNorm: num(o.clip, "--clip", 1),
    accumulate: int(o.accumulate, "--accumulate", 1),
    evalEvery: o.evalEvery ? int(o.evalEvery, "--eval-every", 1) : undefined,
    evalBatches: int(o.evalBatches, "--eval-batches", 4),
    patience: o.patience ? int(o.patience, "--patience", 1) : undefined,
    seed: int(o.seed, "--seed", 0, 0),
    masks,
    checkpoint: o.checkpoint ? { file: o.checkpoint, every: Math.max(1, Math.floor(steps / 10)) } : undefined,
    resume: o.resume,
    session: o.provider ? { provider: o.provider as Provider } : undefined,
    onProgress: (e) => {
      if (e.kind === "validation") console.error(`finetune: step ${e.step}: validation loss ${e.loss.toFixed(4)}, perplexity ${e.perplexity.toFixed(3)}`);
      else if (e.kind === "step" && (Date.now() - lastLog > 5000 || e.step === e.steps)) {
        lastLog = Date.now();
        console.error(`finetune: step ${e.step}/${e.steps} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} |g| ${e.gradNorm.toFixed(3)} ${e.tokensPerSecond.toFixed(0)} tokens/s`);
      }
    },
  });
  writeModel(result.model, o.out);
  const summary = {
    model: modelFile,
    out: o.out,
    family,
    dataset: train.label,
    steps: result.steps,
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
    `finetune: validation perplexity ${result.initial.perplexity.toFixed(3)} -> ${result.final.perplexity.toFixed(3)} in ${result.steps} steps` +
      `${result.sparsity ? `; sparsity ${result.sparsity.sparsity.toFixed(4)} kept exactly (${result.sparsity.violations.length} violations)` : ""}; wrote ${o.out}`,
  );
  if (o.json) writeJsonAtomic(o.json, summary);
  return summary;
}

export function register(program: Command): void {
  program
    .command("finetune <model>")
    .description("fine-tune a (pruned) model with its masks kept, or train a built model from scratch")
    .requiredOption("--out <file>", "where the tuned model is written (the original graph with new weights)")
    .option("--mask <file>", "pruning mask file from `prunebench prune` (pruned weights stay exactly zero)")
    .option("--keep-zeros", "treat the model's exactly-zero matrix weights as its mask")
    .option("--dataset <ref>", "bundled/train, wikitext-2-raw/train, <folder>:train or a text file")
    .option("--valid-dataset <ref>", "validation data (default: the valid split of --dataset, or its last 10%)")
    .option("--tokenizer <file>", 'tokenizer.json / vocab.json / vocab.txt / folder, or "bytes" (default: tokenizer.json beside the model)')
    .option("--family <family>", "decoder | encoder | encoder-decoder (detected when left out)")
    .option("--steps <n>", "optimizer steps", "100")
    .option("--lr <lr>", "peak learning rate", "5e-5")
    .option("--batch <n>", "sequences per micro-batch", "8")
    .option("--seq-len <n>", "tokens per sequence", "128")
    .option("--warmup <n>", "warm-up steps (default 5% of --steps)")
    .option("--schedule <kind>", "linear | cosine | constant decay after warm-up", "linear")
    .option("--weight-decay <x>", "AdamW decoupled weight decay (matrices only)", "0.01")
    .option("--clip <x>", "clip the global gradient norm (0: off)", "1")
    .option("--accumulate <n>", "micro-batches per step", "1")
    .option("--eval-every <n>", "validate every n steps (default steps/5)")
    .option("--eval-batches <n>", "validation batches", "4")
    .option("--patience <n>", "stop after n validations without improvement, keeping the best weights")
    .option("--seed <n>", "seed for batches and masking", "0")
    .option("--checkpoint <file>", "write a checkpoint every steps/10 steps")
    .option("--resume", "resume from --checkpoint when it exists")
    .option("--command <cmd>", "external trainer: a shell command with {model} and {out}; masks are re-applied afterwards")
    .option("--provider <name>", "onnxruntime execution provider (cpu, cuda)")
    .option("--cache <dir>", "cache folder for downloads and token ids")
    .option("--json <file>", "write the result summary as JSON")
    .action(async (model: string, options: FinetuneCommandOptions) => {
      await finetuneCommand(model, options);
    });
}
