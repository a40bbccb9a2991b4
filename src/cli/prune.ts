import { existsSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { BudgetSchema, CalibrationSchema, DEFAULT_SEQ_LEN } from "../config/schema.ts";
import { defaultCacheDir } from "../eval/token-cache.ts";
import { fitSequenceLength, mapModel, modelLimits } from "../models/index.ts";
import type { ModelMap } from "../models/types.ts";
import { readModel } from "../onnx/model.ts";
import type { CalibrationCache, CalibrationJob } from "../prune/calibrated/job.ts";
import { UsageError } from "./errors.ts";
import { PRUNE_RESULT_VERSION, getMethod, listMethods, runPruneJob, type PruneJob, type PruneReport, type PruneResult } from "../prune/index.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { budgetCommand } from "./prune-budget.ts";
import { fileInputs, modelInputs, refuseOverwrites, type InputFile, type OutputPath } from "../util/overwrite.ts";

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

/** Flags that are one method's options: the option each sets and the method it belongs to. */
const METHOD_FLAGS = [
  { flag: "--nm", key: "pattern", method: "nm", value: (o: PruneCommandOptions) => o.nm },
  { flag: "--heads", key: "heads", method: "structured", value: (o: PruneCommandOptions) => fraction("--heads", o.heads) },
  { flag: "--neurons", key: "neurons", method: "structured", value: (o: PruneCommandOptions) => fraction("--neurons", o.neurons) },
  { flag: "--heads-count", key: "heads_count", method: "structured", value: (o: PruneCommandOptions) => positiveInteger("--heads-count", o.headsCount) },
] as const;

function fraction(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || v < 0 || v >= 1) throw new UsageError(`${flag}: expected a fraction in [0, 1), got ${JSON.stringify(text)}`);
  return v;
}

function positiveInteger(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag}: expected a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

/** The method's raw options from its flags (--scope, --nm, --heads, --neurons, --heads-count), parsed by the method as a config's are. */
export function methodOptions(options: PruneCommandOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of METHOD_FLAGS) {
    const value = f.value(options);
    if (value === undefined) continue;
    if (options.method !== f.method) throw new UsageError(`${f.flag} is an option of --method ${f.method}, not ${options.method}`);
    out[f.key] = value;
  }
  if (options.scope !== undefined) out.scope = options.scope;
  return out;
}

function seedOf(options: PruneCommandOptions): number {
  const seed = options.seed === undefined ? 0 : Number(options.seed);
  if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed: ${JSON.stringify(options.seed)} is not an integer`);
  return seed;
}

function summary(r: PruneResult): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  const count = (n: number) => n.toLocaleString("en-US");
  const what = getMethod(r.method).rewritesGraph
    ? `${count(r.pruned)} of ${count(r.params)} parameters removed`
    : `${count(r.pruned)} of ${count(r.params)} weights in ${r.matrices.length} tensors zeroed`;
  const steps = ["select", "write"].filter((k) => r.seconds[k] !== undefined).map((k) => `${k} ${r.seconds[k].toFixed(2)} s`);
  return (
    `prune ${r.method}${Object.keys(r.options).length ? ` ${JSON.stringify(r.options)}` : ""} @ ${r.sparsity}: ${what} ` +
    `(achieved ${pct(r.achievedSparsity)}) -> ${r.output} in ${(r.seconds.total ?? 0).toFixed(2)} s${steps.length ? ` (${steps.join(", ")})` : ""}`
  );
}

/**
 * The calibration request of --calibration, --tokenizer, --calibration-samples and
 * --calibration-seq-len, as a config's prune.calibration gives it: the schema's defaults, and
 * a window left out cut to the model's positions. `map` is read only when --calibration is given.
 */
export function calibrationJobFromFlags(options: PruneCommandOptions, map: () => ModelMap): CalibrationJob | undefined {
  if (!options.calibration) {
    // --budget evaluates perplexity, so it takes --tokenizer without --calibration.
    if ((options.tokenizer !== undefined && options.budget === undefined) || options.calibrationSamples !== undefined || options.calibrationSeqLen !== undefined) {
      throw new UsageError("--tokenizer, --calibration-samples and --calibration-seq-len go with --calibration <dataset>");
    }
    return undefined;
  }
  if (!getMethod(options.method).calibrated) {
    const calibrated = listMethods().filter((m) => m.calibrated).map((m) => m.name);
    throw new UsageError(`--calibration: ${options.method} does not calibrate (${calibrated.slice(0, -1).join(", ")} and ${calibrated.at(-1)} do)`);
  }
  if (!options.tokenizer) throw new UsageError('--calibration needs --tokenizer <tokenizer.json | vocab.json | vocab.txt | folder | "bytes">');
  if (options.tokenizer !== "bytes" && !existsSync(options.tokenizer)) throw new UsageError(`--tokenizer: ${options.tokenizer} not found`);
  const count = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${flag}: expected a whole number >= 1, got ${JSON.stringify(text)}`);
    return n;
  };
  const samples = count("calibration-samples", options.calibrationSamples);
  const c = CalibrationSchema.parse({ dataset: options.calibration, seed: seedOf(options), ...(samples === undefined ? {} : { samples }) });
  const fit = fitSequenceLength(count("calibration-seq-len", options.calibrationSeqLen), DEFAULT_SEQ_LEN.calibration, modelLimits(map()), "--calibration-seq-len");
  if (fit.error) throw new UsageError(fit.error);
  if (fit.note) console.error(`note: ${fit.note}`);
  return { dataset: c.dataset, tokenizer: options.tokenizer, samples: c.samples, seqLen: fit.seqLen, seed: c.seed, cacheDir: options.cache ?? defaultCacheDir() };
}

/** The prune request of the command line for one sparsity and output (the budget search's candidates too). */
export function pruneJobFromFlags(model: string, options: PruneCommandOptions, at: { sparsity?: number; output: string; mask?: string }, calibration?: CalibrationJob): PruneJob {
  return {
    model,
    output: at.output,
    mask: at.mask,
    method: options.method,
    options: methodOptions(options),
    sparsity: at.sparsity,
    include: options.include,
    exclude: options.exclude,
    seed: seedOf(options),
    externalData: options.externalData,
    engine: options.engine,
    calibration,
  };
}

export async function pruneCommand(model: string, options: PruneCommandOptions): Promise<PruneResult[]> {
  const sparsities = options.sparsity === undefined ? [undefined] : parseSparsities(options.sparsity);
  seedOf(options);
  methodOptions(options);
  if (options.mask !== undefined && getMethod(options.method).rewritesGraph) throw new UsageError(`--mask: ${options.method} rewrites the graph and writes no mask`);
  let map: ModelMap | undefined;
  const calibration = calibrationJobFromFlags(options, () => (map ??= mapModel(readModel(model))));
  const several = sparsities.length > 1;
  // One cache for all the sparsities of this command: the dense model is calibrated once.
  const calibrations: CalibrationCache = new Map();
  const results: PruneResult[] = [];
  for (const sparsity of sparsities) {
    const at = { sparsity, output: pathFor(options.out, sparsity ?? 0, several), mask: options.mask === undefined ? undefined : pathFor(options.mask, sparsity ?? 0, several) };
    const result = await runPruneJob(pruneJobFromFlags(model, options, at, calibration), { map, calibrations, log: (message) => console.error(message) });
    console.error(summary(result));
    results.push(result);
  }
  if (options.json) {
    const report: PruneReport = { schema: PRUNE_RESULT_VERSION, results };
    writeJsonAtomic(options.json, report);
  }
  return results;
}

/**
 * What prune reads and writes, for refuseOverwrites: every sparsity's model (and its data
 * file) and mask, the --json report; --budget writes one model, at the found sparsity.
 */
function pruneFiles(model: string, options: PruneCommandOptions): [InputFile[], OutputPath[]] {
  const sparsities = options.sparsity === undefined || options.budget !== undefined ? [0] : parseSparsities(options.sparsity);
  const several = sparsities.length > 1;
  const outputs = sparsities.flatMap((s): OutputPath[] => [
    { path: pathFor(options.out, s, several), flag: "--out" },
    { path: `${pathFor(options.out, s, several)}.data`, flag: "--out (its external data)" },
    ...(options.mask === undefined ? [] : [{ path: pathFor(options.mask, s, several), flag: "--mask" }]),
  ]);
  if (options.json) outputs.push({ path: options.json, flag: "--json" });
  const inputs = [...modelInputs(model), ...fileInputs([[options.tokenizer, "the tokenizer (--tokenizer)"], [options.calibration, "the calibration text (--calibration)"], [options.dataset, "the evaluation text (--dataset)"]])];
  return [inputs, outputs];
}

export function register(program: Command): void {
  program
    .command("prune <model>")
    .description("prune a model: write the pruned ONNX file (zeros in the weights, graph unchanged) and its mask; structured shrinks the graph instead")
    .requiredOption("--method <name>", `pruning method: ${listMethods().map((m) => m.name).join(", ")}`)
    .option("--sparsity <list>", "fraction of weights to zero, or several separated by commas (each run prunes the original)")
    .option("--nm <N:M>", "for --method nm: keep N of every M consecutive inputs (default 2:4)")
    .option("--scope <scope>", "for --method magnitude: matrix (default) or global")
    .option("--seed <n>", "seed for --method random and the calibration windows", "0")
    .option("--include <globs...>", "weights to prune: globs over names, part.layer.block.role paths (e.g. '*.attn.*' '*.mlp.*'), roles or blocks (default: attention and MLP matrices)")
    .option("--exclude <globs...>", "weights to leave dense, matched like --include")
    .requiredOption("--out <file>", "pruned model; with several sparsities '{sparsity}' in the name is replaced (else -s<sparsity> is added)")
    .option("--mask <file>", "mask file to write (one bit per weight), for fine-tuning")
    .option("--json <file>", "write the results ({schema, results: [...]})")
    .option("--heads <fraction>", "for --method structured: fraction of attention heads removed in each layer (default --sparsity, else 0)")
    .option("--neurons <fraction>", "for --method structured: fraction of MLP neurons removed in each layer (default --sparsity, else 0)")
    .option("--heads-count <n>", "for --method structured: attention heads per layer (default: read from the graph)")
    .option("--external-data <mode>", "auto (as the input, or when over 2 GB), always or never", "auto")
    .option("--calibration <dataset>", "for wanda, sparsegpt, owl: calibration text (bundled/train, wikitext-2-raw/train, <folder>:train or a text file)")
    .option("--tokenizer <file>", 'with --calibration: tokenizer.json, vocab.json, vocab.txt, a folder holding one, or "bytes"')
    .option("--calibration-samples <n>", `with --calibration: windows drawn (default ${CalibrationSchema.parse({}).samples}, as the papers)`)
    .option("--calibration-seq-len <n>", `with --calibration: tokens per window (default ${DEFAULT_SEQ_LEN.calibration}, cut to the model's positions)`)
    .option("--cache <dir>", "download and token cache (default ~/.cache/prunebench)")
    .option("--engine <engine>", "magnitude pruning engine: stream (from data file to data file, holding no weights), memory, or auto (stream where it can)", "auto")
    .option("--budget <increase>", "instead of --sparsity: search the highest sparsity whose perplexity on --dataset is within this increase over dense (\"2%\" or 0.02), and write that model")
    .option("--tolerance <step>", `with --budget: grid step and final bracket width (default ${BudgetSchema.parse({}).tolerance})`)
    .option("--dataset <ref>", "with --budget: evaluation text (a file, bundled/test, wikitext-2-raw/test, <folder>:test); needs --tokenizer")
    .option("--seq-len <n>", `with --budget: perplexity window in tokens (default ${DEFAULT_SEQ_LEN.eval}, cut to the model's positions)`)
    .option("--stride <n>", "with --budget: sliding-window stride (default --seq-len)")
    .action(async (model: string, options: PruneCommandOptions) => {
      if (!["auto", "stream", "memory"].includes(options.engine ?? "auto")) {
        throw new UsageError(`--engine: expected auto, stream or memory, got ${JSON.stringify(options.engine)}`);
      }
      if (!["auto", "always", "never"].includes(options.externalData ?? "auto")) {
        throw new UsageError(`--external-data: expected auto, always or never, got ${JSON.stringify(options.externalData)}`);
      }
      refuseOverwrites(...pruneFiles(model, options));
      if (options.budget !== undefined) await budgetCommand(model, options);
      else await pruneCommand(model, options);
    });
}
