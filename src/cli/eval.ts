import type { Command } from "commander";
import { UsageError } from "./errors.ts";
import type { Family } from "../models/types.ts";
import { createProgress } from "../pipeline/progress.ts";
import { createStopSignal } from "../pipeline/context.ts";
import { RunInterrupted } from "../errors.ts";
import { withInterrupt } from "./interrupt.ts";
import { fileInputs, modelInputs, refuseOverwrites } from "../util/overwrite.ts";
import { DEFAULT_SEQ_LEN, LATENCY_DEFAULTS, PERPLEXITY_DEFAULTS } from "../config/schema.ts";
import { evalJob, type EvalJob, type EvalOutcome, type PerplexityInput } from "../eval/job.ts";
import type { Protocol } from "../eval/protocols.ts";
import { runInWorker } from "../eval/worker-client.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { fitSequenceLength, mapModel, modelLimits, type ModelLimits } from "../models/index.ts";
import { readModel } from "../onnx/model.ts";
import { OnnxFormatError } from "../onnx/errors.ts";

export interface EvalCommandOptions {
  tokenizer?: string;
  dataset?: string;
  datasetName?: string;
  perplexity?: boolean;
  latency?: boolean;
  family?: string;
  protocol?: string;
  seqLen?: string;
  stride?: string;
  maxTokens?: string;
  batchSize?: string;
  seed?: string;
  tokenBudget?: string;
  decoderStart?: string;
  joinRows?: boolean;
  batch?: string;
  latencySeqLen?: string;
  budget?: string;
  precision?: string;
  warmup?: string;
  provider?: string;
  threads?: string;
  timeLimit?: string;
  cache?: string;
  json?: string;
}

const FAMILIES = ["decoder", "encoder", "encoder-decoder"];
const PROTOCOLS = ["sliding-window", "paper-nonoverlap", "masked-lm", "pseudo-ppl", "seq2seq-chunk", "seq2seq-denoise"];

function int(value: string | undefined, flag: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

function num(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag}: expected a positive number, got ${JSON.stringify(value)}`);
  return n;
}

function list(value: string, flag: string): number[] {
  return value.split(",").map((s) => int(s.trim(), flag)!);
}

function oneOf<T extends string>(value: string | undefined, flag: string, allowed: string[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value)) throw new UsageError(`${flag}: expected one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
  return value as T;
}

/**
 * `prunebench eval`'s flags as the EvalJob a config's eval section makes (evalJob): what a flag
 * leaves out is the config schema's default.
 */
export function jobFromOptions(model: string, options: EvalCommandOptions): EvalJob {
  const wantPerplexity = options.perplexity ?? (!options.latency || Boolean(options.dataset));
  let perplexity: PerplexityInput | undefined;
  if (wantPerplexity) {
    if (!options.tokenizer) throw new UsageError("--perplexity needs --tokenizer <tokenizer.json | vocab.json | vocab.txt | folder>");
    if (!options.dataset) throw new UsageError("--perplexity needs --dataset <text file | folder | bundled/test | wikitext-2-raw/test>");
    perplexity = {
      tokenizer: options.tokenizer,
      dataset: options.dataset,
      datasetName: options.datasetName,
      protocol: oneOf<Protocol>(options.protocol, "--protocol", PROTOCOLS),
      seq_len: int(options.seqLen, "--seq-len"),
      stride: int(options.stride, "--stride"),
      max_tokens: int(options.maxTokens, "--max-tokens"),
      seed: int(options.seed, "--seed", 0),
      batchSize: int(options.batchSize, "--batch-size"),
      tokenBudget: int(options.tokenBudget, "--token-budget"),
      decoderStart: int(options.decoderStart, "--decoder-start", 0),
      joinRows: options.joinRows,
      cacheDir: options.cache,
    };
  }
  const budget = num(options.budget, "--budget");
  const job = evalJob({
    model,
    family: oneOf<Family>(options.family, "--family", FAMILIES),
    provider: oneOf<"cpu" | "cuda">(options.provider, "--provider", ["cpu", "cuda"]),
    threads: int(options.threads, "--threads", 0),
    perplexity,
    latency: options.latency
      ? {
          batch: options.batch === undefined ? undefined : list(options.batch, "--batch"),
          seq_len: options.latencySeqLen === undefined ? undefined : list(options.latencySeqLen, "--latency-seq-len"),
          budget_ms: budget === undefined ? undefined : budget * 1000,
          warmup: int(options.warmup, "--warmup", 0),
          targetPrecision: num(options.precision, "--precision"),
        }
      : undefined,
  });
  if (job.perplexity?.stride && job.perplexity.stride > job.perplexity.seqLen) throw new UsageError(`--stride ${job.perplexity.stride} is longer than --seq-len ${job.perplexity.seqLen}`);
  return job;
}

export function outcomeSummary(outcome: EvalOutcome): string {
  const lines = [`${outcome.model} (${outcome.family}) on ${outcome.runner.provider}, ${outcome.runner.cpu}${outcome.runner.gpu ? `, ${outcome.runner.gpu}` : ""}`];
  const p = outcome.perplexity;
  if (p) {
    lines.push(
      `perplexity (${p.protocol}, seq ${p.seqLen}${p.stride ? `, stride ${p.stride}` : ""}): token ${p.token.toFixed(3)}, word ${p.word.toFixed(3)}, ` +
        `bits/byte ${p.bitsPerByte.toFixed(4)} over ${p.tokens} tokens in ${p.seconds.toFixed(1)} s${p.partial ? " (PARTIAL)" : ""}`,
    );
  }
  for (const l of outcome.latency) {
    lines.push(`latency batch ${l.batch} x seq ${l.seqLen}: p50 ${l.p50.toFixed(2)} ms, p90 ${l.p90.toFixed(2)}, p99 ${l.p99.toFixed(2)}, ${l.tokensPerSecond.toFixed(0)} tokens/s (${l.samplesMs.length} runs)`);
  }
  for (const w of outcome.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}

/**
 * What a model file's tables fix (positions, vocabulary); undefined for a graph prunebench does
 * not recognise, which the stage itself then reports as it can. A file that is no ONNX model is an error here.
 */
export function modelFileLimits(file: string, family?: Family): ModelLimits | undefined {
  try {
    return modelLimits(mapModel(readModel(file), { family }));
  } catch (error) {
    if (error instanceof OnnxFormatError) throw error;
    return undefined;
  }
}

/**
 * Sequence lengths against the model's positions, before the worker starts: a --seq-len past
 * them is refused naming both, and the default is cut to them (said on stderr), as Hugging
 * Face's perplexity guide does with n_positions. Models without a position table pass as given.
 */
export function fitJobToModel(job: EvalJob, options: EvalCommandOptions, log: (line: string) => void): void {
  const limits = modelFileLimits(job.model, job.family);
  if (!limits) return;
  if (job.perplexity) {
    const fitted = fitSequenceLength(options.seqLen === undefined ? undefined : job.perplexity.seqLen, job.perplexity.seqLen, limits, "--seq-len");
    if (fitted.error) throw new UsageError(fitted.error);
    if (fitted.note) log(fitted.note);
    job.perplexity.seqLen = fitted.seqLen;
    if (job.perplexity.stride && job.perplexity.stride > fitted.seqLen) throw new UsageError(`--stride ${job.perplexity.stride} is longer than --seq-len ${fitted.seqLen}`);
  }
  const max = limits.positions;
  if (job.latency && max) {
    const past = job.latency.seqLen.find((s) => s > max.count);
    if (past !== undefined) throw new UsageError(`--latency-seq-len: ${past}${options.latencySeqLen ? "" : " (the default)"} is past the model's ${max.count} positions (${max.param})`);
  }
}

/**
 * `prunebench eval`. Ctrl-C at any moment (loading, tokenizing, creating the session, scoring)
 * stops after the current batch: what was measured is printed (and written to --json) marked
 * partial, and the command ends in RunInterrupted, exit 130. --time-limit stops the same way
 * but is no interruption: its partial result exits 0.
 */
export async function evalCommand(model: string, options: EvalCommandOptions, io: { stdout?: { write(text: string): unknown } } = {}): Promise<EvalOutcome> {
  const stop = createStopSignal();
  return withInterrupt(stop, "interrupted: finishing the current batch, the result will be marked partial (Ctrl-C again to quit now)", async () => {
    const job = jobFromOptions(model, options);
    if (options.json) refuseOverwrites([...modelInputs(model), ...fileInputs([[job.perplexity?.tokenizer, "the tokenizer (--tokenizer)"], [job.perplexity?.dataset, "the evaluation text (--dataset)"]])], [{ path: options.json, flag: "--json" }]);
    const progress = createProgress();
    fitJobToModel(job, options, (line) => progress.log(line));
    if (stop.requested) throw new RunInterrupted("evaluation");
    progress.log(`eval ${model}: ${[job.perplexity && "perplexity", job.latency && "latency"].filter(Boolean).join(" and ")} on ${job.provider ?? "cpu"}`);
    let stage = "";
    const run = runInWorker(job, {
      timeLimitMs: num(options.timeLimit, "--time-limit") !== undefined ? num(options.timeLimit, "--time-limit")! * 1000 : undefined,
      onProgress: (p) => {
        if (p.stage !== stage) {
          if (stage) progress.stop();
          stage = p.stage;
          progress.start(p.stage, p.total);
        }
        progress.update(p.done, p.detail);
      },
    });
    const unsubscribe = stop.onRequest(() => run.stop());
    let outcome: EvalOutcome;
    try {
      outcome = await run.result;
    } finally {
      unsubscribe();
      if (stage) progress.stop();
    }
    if (options.json) writeJsonAtomic(options.json, outcome);
    (io.stdout ?? process.stdout).write(`${outcomeSummary(outcome)}\n`);
    if (stop.requested && outcome.partial) throw new RunInterrupted(stage || "evaluation");
    return outcome;
  });
}

export function register(program: Command): void {
  program
    .command("eval <model>")
    .description("perplexity (token, word, bits per byte) and latency of a model")
    .option("--tokenizer <file>", "tokenizer.json, vocab.json (+ merges.txt) or vocab.txt, or a folder holding one")
    .option("--dataset <ref>", "evaluation text: a file, a folder holding wiki.test.raw / test.txt, or bundled/<split>, wikitext-2-raw/<split>, <folder>:<split>")
    .option("--dataset-name <name>", "name recorded in the result (default: the file path)")
    .option("--perplexity", "measure perplexity (the default when --dataset is given)")
    .option("--latency", "measure latency")
    .option("--family <family>", `model family (${FAMILIES.join(", ")}); detected when left out`)
    .option("--protocol <name>", `perplexity protocol (${PROTOCOLS.join(", ")}); by family when left out`)
    .option("--seq-len <n>", `window length in tokens (default ${DEFAULT_SEQ_LEN.eval}, cut to the model's positions)`)
    .option("--stride <n>", "sliding-window stride (default seq-len)")
    .option("--max-tokens <n>", "evaluate the first ~n tokens of the text (cut at a space)")
    .option("--batch-size <n>", "windows per session.run (default 1)")
    .option("--seed <n>", `masking seed (default ${PERPLEXITY_DEFAULTS.seed})`)
    .option("--token-budget <n>", "pseudo-ppl: tokens scored at most (default 4096)")
    .option("--decoder-start <id>", "encoder-decoder: first decoder token (default pad, then eos)")
    .option("--no-join-rows", "decoders: tokenize the file as is, not \"\\n\\n\".join(lines) as the HF and SparseGPT code do")
    .option("--batch <list>", `latency batch sizes, comma-separated (default ${LATENCY_DEFAULTS.batch.join(",")})`)
    .option("--latency-seq-len <list>", `latency sequence lengths, comma-separated (default ${LATENCY_DEFAULTS.seq_len.join(",")})`)
    .option("--budget <seconds>", `latency: timed-run budget per shape (default ${LATENCY_DEFAULTS.budget_ms / 1000})`)
    .option("--precision <share>", "latency: stop when the median's 95% CI half-width is below this share (default 0.01)")
    .option("--warmup <n>", `latency: warm-up runs (default ${LATENCY_DEFAULTS.warmup})`)
    .option("--provider <name>", "cpu or cuda (cuda falls back to cpu with a warning where unavailable)", "cpu")
    .option("--threads <n>", "intra-op threads (default: onnxruntime's choice)")
    .option("--time-limit <seconds>", "stop cleanly after this long; the result is marked partial")
    .option("--cache <dir>", "token-id cache folder (default $PRUNEBENCH_CACHE or ~/.cache/prunebench)")
    .option("--json <file>", "write the result (runner, perplexity, latency) as JSON")
    .action(async (model: string, options: EvalCommandOptions) => {
      await evalCommand(model, options);
    });
}
