import type { Command } from "commander";
import { statSync } from "node:fs";
import { UsageError } from "./errors.ts";
import {
  PRESET_NAMES,
  headParameterCount,
  parameterCount,
  resolveSizes,
  writeBuiltModel,
  type ArchitectureConfig,
  type Family,
  type PresetName,
} from "../models/index.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { refuseOverwrites } from "../util/overwrite.ts";

export interface BuildCommandOptions {
  preset?: string;
  out?: string;
  vocab?: string;
  layers?: string;
  decoderLayers?: string;
  dModel?: string;
  heads?: string;
  dFf?: string;
  positions?: string;
  seed?: string;
  externalData?: string;
  kvCache?: boolean;
  json?: string;
}

const FAMILIES: Family[] = ["decoder", "encoder", "encoder-decoder"];

/** What `prunebench build --json` writes. */
export interface BuildResult {
  schema: 1;
  family: Family;
  preset: PresetName;
  sizes: ArchitectureConfig;
  seed: number;
  /** Base model parameters as torch counts them (GPT2Model, BertModel with pooler, PegasusModel). */
  parameters: number;
  /** Parameters the LM head adds (tied matrices not counted again). */
  headParameters: number;
  file: string;
  /** The external data file, when the weights went there. */
  dataFile?: string;
  /** Bytes on disk, model and data together. */
  bytes: number;
  seconds: number;
}

function int(value: string | undefined, flag: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

export function runBuild(familyArg: string, options: BuildCommandOptions): BuildResult {
  if (!FAMILIES.includes(familyArg as Family)) throw new UsageError(`family: expected one of ${FAMILIES.join(", ")}, got ${JSON.stringify(familyArg)}`);
  const family = familyArg as Family;
  const preset = (options.preset ?? "tiny") as PresetName;
  if (!PRESET_NAMES.includes(preset)) throw new UsageError(`--preset: expected one of ${PRESET_NAMES.join(", ")}, got ${JSON.stringify(options.preset)}`);
  if (!options.out) throw new UsageError("--out <model.onnx> is required");
  const externalData = options.externalData ?? "auto";
  if (!["auto", "always", "never"].includes(externalData)) throw new UsageError(`--external-data: expected auto, always or never, got ${JSON.stringify(externalData)}`);
  const overrides: Partial<ArchitectureConfig> = {
    vocab: int(options.vocab, "--vocab"),
    layers: int(options.layers, "--layers"),
    decoderLayers: int(options.decoderLayers, "--decoder-layers"),
    dModel: int(options.dModel, "--d-model"),
    heads: int(options.heads, "--heads"),
    dFF: int(options.dFf, "--d-ff"),
    positions: int(options.positions, "--positions"),
  };
  const seed = int(options.seed, "--seed", 0) ?? 0;
  refuseOverwrites([], [{ path: options.out, flag: "--out" }, { path: `${options.out}.data`, flag: "--out (its external data)" }, ...(options.json ? [{ path: options.json, flag: "--json" }] : [])]);
  if (options.kvCache && family !== "decoder") throw new UsageError(`--kv-cache: only a decoder is built with a KV cache, not ${family}`);
  let sizes: ArchitectureConfig;
  try {
    sizes = resolveSizes({ family, preset, sizes: overrides });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const params = parameterCount(family, sizes);
  const head = headParameterCount(family, sizes);
  process.stderr.write(`building ${family} (${preset}): ${params.toLocaleString("en-US")} parameters + ${head.toLocaleString("en-US")} in the head -> ${options.out}\n`);
  const start = process.hrtime.bigint();
  const written = writeBuiltModel({ family, preset, sizes, seed, kvCache: options.kvCache, file: options.out, externalData: externalData as "auto" | "always" | "never" });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const bytes = statSync(written.file).size + (written.dataFile ? statSync(written.dataFile).size : 0);
  process.stderr.write(`wrote ${options.out} (${(bytes / 2 ** 20).toFixed(1)} MiB) in ${seconds.toFixed(1)} s\n`);
  const result: BuildResult = { schema: 1, family, preset, sizes, seed, parameters: params, headParameters: head, file: written.file, dataFile: written.dataFile, bytes, seconds };
  if (options.json) writeJsonAtomic(options.json, result);
  return result;
}

export function register(program: Command): void {
  program
    .command("build <family>")
    .description("write a model of a family (decoder = GPT-2, encoder = BERT, encoder-decoder = Pegasus) at a preset size, random weights")
    .option("--preset <name>", `sizes: ${PRESET_NAMES.join(", ")}`, "tiny")
    .option("--out <file>", "model file to write (.onnx)")
    .option("--vocab <n>", "vocabulary size (tiny defaults to the family's tokenizer: 50257 GPT-2 BPE, 30522 BERT)")
    .option("--layers <n>", "layers (encoder layers for encoder-decoder)")
    .option("--decoder-layers <n>", "decoder layers of an encoder-decoder")
    .option("--d-model <n>", "hidden size")
    .option("--heads <n>", "attention heads")
    .option("--d-ff <n>", "MLP inner size")
    .option("--positions <n>", "maximum positions")
    .option("--seed <n>", "seed of the random weights", "0")
    .option("--external-data <mode>", "auto (weights over 256 MiB go to <out>.data), always, never", "auto")
    .option("--kv-cache", "decoder: optimum's export with past_key_values.N.key/value inputs and present.N.* outputs (same weights)")
    .option("--json <file>", "write the build result as JSON")
    .action((family: string, options: BuildCommandOptions) => {
      runBuild(family, options);
    });
}
