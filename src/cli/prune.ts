import { existsSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { datasetTokens, defaultCacheDir } from "../eval/token-cache.ts";
import { mapModel } from "../models/index.ts";
import { readModel } from "../onnx/model.ts";
import type { CalibrationData } from "../prune/calibrated/calibration.ts";
import { UsageError } from "./errors.ts";
import { PRUNE_RESULT_VERSION, listMethods, pruneFile, type PruneReport, type PruneResult } from "../prune/index.ts";
import { pruneStructuredFile, type StructuredResult } from "../prune/structured/index.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { budgetCommand } from "./prune-budget.ts";

export interface PruneCommandOptions {
  method: string;
  sparsity?: string;
  nm?: string;
  scope?: string;
  seed?: string;
  include?: string[];
  exclude?: string[];
  out: string;
  mask?: string;
  json?: string;
  externalData?: "auto" | "always" | "never";
  engine?: "auto" | "stream" | "memory";
  /** Calibrated methods (Wanda, SparseGPT, OWL): the text their activations are taken on. */
  calibration?: string;
  tokenizer?: string;
  calibrationSamples?: string;
  calibrationSeqLen?: string;
  cache?: string;
  /** --method structured: fractions of heads and MLP neurons removed per layer. */
  heads?: string;
  neurons?: string;
  /** --method structured: heads per attention block, where the graph does not show it. */
  headsCount?: string;
  /** --budget: the highest sparsity within this perplexity increase over dense (src/cli/prune-budget.ts). */
  budget?: string;
  tolerance?: string;
  dataset?: string;
  seqLen?: string;
  stride?: string;
}

export function parseSparsities(text: string): number[] {
  const values = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const numbers = values.map(Number);
  if (numbers.length === 0 || numbers.some((n) => !Number.isFinite(n) || n < 0 || n >= 1)) {
    throw new UsageError(`--sparsity: expected fractions in [0, 1) separated by commas, got ${JSON.stringify(text)}`);
  }
  return numbers;
}

/**
 * With several sparsities each run needs its own files: "{sparsity}" in a path is replaced,
 * otherwise "-s<sparsity>" goes before the extension (pruned.onnx -> pruned-s0.5.onnx).
 */
export function pathFor(file: string, sparsity: number, several: boolean): string {
  if (file.includes("{sparsity}")) return file.replaceAll("{sparsity}", String(sparsity));
  if (!several) return file;
  const ext = path.extname(file);
  return `${file.slice(0, file.length - ext.length)}-s${sparsity}${ext}`;
}

export function methodOptions(options: PruneCommandOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (options.nm !== undefined) {
    if (options.method !== "nm") throw new UsageError(`--nm is an option of --method nm, not ${options.method}`);
    out.pattern = options.nm;
  }
  if (options.scope !== undefined) out.scope = options.scope;
  return out;
}

function summary(r: PruneResult): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  const s = r.seconds;
  return (
    `prune ${r.method}${Object.keys(r.options).length ? ` ${JSON.stringify(r.options)}` : ""} @ ${r.sparsity}: ` +
    `${r.pruned.toLocaleString("en-US")} of ${r.params.toLocaleString("en-US")} weights in ${r.matrices.length} tensors zeroed ` +
    `(achieved ${pct(r.achievedSparsity)}) -> ${r.output} in ${s.total.toFixed(2)} s (select ${s.select.toFixed(2)} s, write ${s.write.toFixed(2)} s)`
  );
}

/**
 * Calibration windows for Wanda, SparseGPT and OWL, as a config's prune.calibration gives
 * them: token ids of --calibration, --calibration-samples windows of --calibration-seq-len.
 */
export async function calibrationFor(model: string, options: PruneCommandOptions): Promise<CalibrationData | undefined> {
  const calibrated = listMethods().find((m) => m.name === options.method)?.calibrated ?? false;
  if (!options.calibration) {
    // --budget evaluates perplexity, so it takes --tokenizer without --calibration.
    if ((options.tokenizer !== undefined && options.budget === undefined) || options.calibrationSamples !== undefined || options.calibrationSeqLen !== undefined) {
      throw new UsageError("--tokenizer, --calibration-samples and --calibration-seq-len go with --calibration <dataset>");
    }
    return undefined;
  }
  if (!calibrated) throw new UsageError(`--calibration: ${options.method} does not calibrate (wanda, sparsegpt and owl do)`);
  if (!options.tokenizer) throw new UsageError('--calibration needs --tokenizer <tokenizer.json | vocab.json | vocab.txt | folder | "bytes">');
  if (options.tokenizer !== "bytes" && !existsSync(options.tokenizer)) throw new UsageError(`--tokenizer: ${options.tokenizer} not found`);
  const count = (flag: string, text: string | undefined, fallback: number) => {
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${flag}: expected a whole number >= 1, got ${JSON.stringify(text)}`);
    return n;
  };
  const samples = count("calibration-samples", options.calibrationSamples, 128);
  const seqLen = count("calibration-seq-len", options.calibrationSeqLen, 512);
  const { tokens } = await datasetTokens(options.calibration, { tokenizer: options.tokenizer, cacheDir: options.cache ?? defaultCacheDir() });
  // One cache for all the sparsities of this command: the dense model is calibrated once.
  return { tokens, samples, seqLen, seed: Number(options.seed ?? 0), family: mapModel(readModel(model)).family, statsCache: new Map() };
}

export async function pruneCommand(model: string, options: PruneCommandOptions): Promise<PruneResult[]> {
  const sparsities = options.sparsity === undefined ? [undefined] : parseSparsities(options.sparsity);
  const calibration = await calibrationFor(model, options);
  const several = sparsities.length > 1;
  const seed = options.seed === undefined ? 0 : Number(options.seed);
  if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed: ${JSON.stringify(options.seed)} is not an integer`);
  const results: PruneResult[] = [];
  for (const sparsity of sparsities) {
    const result = await pruneFile({
      input: model,
      output: pathFor(options.out, sparsity ?? 0, several),
      mask: options.mask === undefined ? undefined : pathFor(options.mask, sparsity ?? 0, several),
      method: options.method,
      options: methodOptions(options),
      sparsity,
      seed,
      patterns: { include: options.include, exclude: options.exclude },
      externalData: options.externalData,
      engine: options.engine,
      calibration,
      log: (message) => console.error(message),
    });
    console.error(summary(result));
    results.push(result);
  }
  if (options.json) {
    const report: PruneReport = { schema: PRUNE_RESULT_VERSION, results };
    writeJsonAtomic(options.json, report);
  }
  return results;
}

function headsCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--heads-count: expected a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

/** Structured pruning rewrites the graph (smaller matrices), so it has no mask and one output. */
export function structuredCommand(model: string, options: PruneCommandOptions): StructuredResult & { output: string } {
  const fraction = (flag: string, text: string | undefined) => {
    const v = Number(text ?? 0);
    if (!Number.isFinite(v) || v < 0 || v >= 1) throw new UsageError(`--${flag}: expected a fraction in [0, 1), got ${JSON.stringify(text)}`);
    return v;
  };
  const result = pruneStructuredFile({
    input: model,
    output: options.out,
    heads: fraction("heads", options.heads),
    neurons: fraction("neurons", options.neurons),
    headCount: headsCount(options.headsCount),
    externalData: options.externalData,
    log: (message) => console.error(message),
  });
  if (options.json) writeJsonAtomic(options.json, result);
  return result;
}

export function register(program: Command): void {
  program
    .command("prune <model>")
    .description("prune a model: write the pruned ONNX file (zeros in the weights, graph unchanged) and its mask")
    .requiredOption("--method <name>", `pruning method: ${[...listMethods().map((m) => m.name), "structured"].join(", ")}`)
    .option("--sparsity <list>", "fraction of weights to zero, or several separated by commas (each run prunes the original)")
    .option("--nm <N:M>", "for --method nm: keep N of every M consecutive inputs (default 2:4)")
    .option("--scope <scope>", "for --method magnitude: matrix (default) or global")
    .option("--seed <n>", "seed for --method random", "0")
    .option("--include <globs...>", "weights to prune: globs over names, part.layer.block.role paths (e.g. '*.attn.*' '*.mlp.*'), roles or blocks (default: attention and MLP matrices)")
    .option("--exclude <globs...>", "weights to leave dense, matched like --include")
    .requiredOption("--out <file>", "pruned model; with several sparsities '{sparsity}' in the name is replaced (else -s<sparsity> is added)")
    .option("--mask <file>", "mask file to write (one bit per weight), for fine-tuning")
    .option("--json <file>", "write the results ({schema, results: [...]})")
    .option("--heads <fraction>", "for --method structured: fraction of attention heads removed in each layer (default 0)")
    .option("--neurons <fraction>", "for --method structured: fraction of MLP neurons removed in each layer (default 0)")
    .option("--heads-count <n>", "for --method structured: attention heads per layer (default: read from the graph)")
    .option("--external-data <mode>", "auto (as the input, or when over 2 GB), always or never", "auto")
    .option("--calibration <dataset>", "for wanda, sparsegpt, owl: calibration text (bundled/train, wikitext-2-raw/train, <folder>:train or a text file)")
    .option("--tokenizer <file>", 'with --calibration: tokenizer.json, vocab.json, vocab.txt, a folder holding one, or "bytes"')
    .option("--calibration-samples <n>", "with --calibration: windows drawn (default 128, as the papers)")
    .option("--calibration-seq-len <n>", "with --calibration: tokens per window (default 512)")
    .option("--cache <dir>", "download and token cache (default ~/.cache/prunebench)")
    .option("--engine <engine>", "magnitude pruning engine: stream (from data file to data file, holding no weights), memory, or auto (stream where it can)", "auto")
    .option("--budget <increase>", "instead of --sparsity: search the highest sparsity whose perplexity on --dataset is within this increase over dense (\"2%\" or 0.02), and write that model")
    .option("--tolerance <step>", "with --budget: grid step and final bracket width (default 0.01)")
    .option("--dataset <ref>", "with --budget: evaluation text (a file, bundled/test, wikitext-2-raw/test, <folder>:test); needs --tokenizer")
    .option("--seq-len <n>", "with --budget: perplexity window in tokens (default 512)")
    .option("--stride <n>", "with --budget: sliding-window stride (default --seq-len)")
    .action(async (model: string, options: PruneCommandOptions) => {
      if (!["auto", "stream", "memory"].includes(options.engine ?? "auto")) {
        throw new UsageError(`--engine: expected auto, stream or memory, got ${JSON.stringify(options.engine)}`);
      }
      if (!["auto", "always", "never"].includes(options.externalData ?? "auto")) {
        throw new UsageError(`--external-data: expected auto, always or never, got ${JSON.stringify(options.externalData)}`);
      }
      if (options.budget !== undefined) await budgetCommand(model, options);
      else if (options.method === "structured") await structuredCommand(model, options);
      else await pruneCommand(model, options);
    });
}
