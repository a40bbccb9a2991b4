import { DEFAULT_SEQ_LEN, type MethodSpec } from "../config/schema.ts";
import type { LoadedConfig } from "../config/load.ts";
import { readDataset } from "../data/resolve.ts";
import { UserError, UserErrors } from "../errors.ts";
import { PROTOCOL_FAMILY } from "../eval/evaluate.ts";
import type { Protocol } from "../eval/protocols.ts";
import { loadTokenizer } from "../eval/tokenizer.ts";
import { fitSequenceLength, mapModel, modelLimits, type ModelLimits } from "../models/index.ts";
import type { ModelMap } from "../models/types.ts";
import { checkFiniteWeights } from "../onnx/finite.ts";
import { readModel, type OnnxModel } from "../onnx/model.ts";
import { getMethod } from "../prune/registry.ts";
import { chooseTargets } from "../prune/targets.ts";
import { resolveModelFiles, type ModelFiles } from "./model-source.ts";
import { parseMethodSpec } from "../prune/spec.ts";

/** The sequence length each stage uses (the config's, or its default cut to the model's positions). */
export interface SequenceLengths {
  eval: number;
  finetune: number;
  calibration: number;
}

/** A config checked against its model, ready to run. */
export interface Preflighted {
  loaded: LoadedConfig;
  files: ModelFiles;
  map: ModelMap;
  seqLen: SequenceLengths;
  /** What was chosen for the user (a sequence length cut to the model's positions): said in the output. */
  notes: string[];
}

/**
 * Every check that can be made before the first prune, for every config, with all problems
 * reported together: one line each, naming the config file and the field. `prunebench run`
 * does nothing unless all configs pass, so a bad config never costs the good ones' work.
 */
export async function preflightConfigs(loaded: LoadedConfig[], options: { cacheDir: string; problems?: UserError[] }): Promise<Preflighted[]> {
  const problems: UserError[] = [...(options.problems ?? [])];
  const names = new Map<string, string>();
  for (const l of loaded) {
    const other = names.get(l.config.name);
    if (other) problems.push(new UserError(`${l.file}: name: ${JSON.stringify(l.config.name)} is also used by ${other}; names key the result files`, { file: l.file, field: "name" }));
    names.set(l.config.name, l.file);
  }
  const ready: Preflighted[] = [];
  for (const l of loaded) {
    const checked = await preflightConfig(l, options);
    if ("problems" in checked) problems.push(...checked.problems);
    else ready.push(checked);
  }
  if (problems.length) throw problems.length === 1 ? problems[0] : new UserErrors(problems);
  return ready;
}

/** One config's checks; problems are collected, not thrown, so each config lists all of its own. */
export async function preflightConfig(loaded: LoadedConfig, options: { cacheDir: string }): Promise<Preflighted | { problems: UserError[] }> {
  const { file, config } = loaded;
  const problems: UserError[] = [];
  const problem = (field: string, message: string) => problems.push(new UserError(`${file}: ${field}: ${message}`, { file, field }));
  const attempt = <T>(field: string, fn: () => T, prefix = true): T | undefined => {
    try {
      return fn();
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      // Errors that already name this config (ConfigError) keep their own field.
      if (error.file === file || !prefix) problems.push(error);
      else problem(field, error.message);
      return undefined;
    }
  };

  // Hub sources are downloaded here, before any work, so a bad repo or file fails up front.
  let files: ModelFiles | undefined;
  try {
    files = await resolveModelFiles(loaded, options.cacheDir);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    if (error.file === file) problems.push(error);
    else problem(config.model.hf ? "model.hf" : "model.path", error.message);
  }
  const where = config.model.hf ? "model.hf" : "model.path";
  const model: OnnxModel | undefined = files && attempt(where, () => readModel(files.model));
  if (model) attempt(where, () => checkFiniteWeights(model));
  const map = model && attempt(where, () => mapModel(model, { family: config.model.family }));
  if (model && map && config.model.family) {
    const seen = (() => {
      try {
        return mapModel(model).family;
      } catch {
        return undefined;
      }
    })();
    if (seen && seen !== config.model.family) problem("model.family", `${config.model.family}, but the graph of ${files!.model} is ${seen === "encoder" ? "an" : "a"} ${seen} model; remove model.family or correct it`);
  }
  const limits: ModelLimits = map ? modelLimits(map) : {};
  if (files) {
    const tokenizer = attempt("model.tokenizer", () => loadTokenizer(files.tokenizer));
    if (tokenizer && limits.vocab && tokenizer.vocabSize > limits.vocab.count) {
      problem("model.tokenizer", `${files.tokenizer} has ${tokenizer.vocabSize} tokens, more than the model's ${limits.vocab.count} (${limits.vocab.param}): they do not belong together`);
    }
  }

  checkMethods(loaded, map, problem);
  const seqLen = checkSequences(loaded, map, limits, problem);
  await checkDatasets(loaded, options.cacheDir, problem);

  if (problems.length || !files || !map) return { problems };
  return { loaded, files, map, seqLen: seqLen.lengths, notes: seqLen.notes };
}

type Problem = (field: string, message: string) => void;

/** Method options parse as `prunebench prune` parses them (same messages), and include matches a weight. */
function checkMethods(loaded: LoadedConfig, map: ModelMap | undefined, problem: Problem): void {
  const { prune } = loaded.config;
  prune.methods.forEach((spec, i) => {
    try {
      parseMethodSpec(spec, `prune.methods[${i}]`);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      problem(`prune.methods[${i}]`, error.message.replace(/^prune\.methods\[\d+\]: /, ""));
    }
  });
  if (map) {
    try {
      chooseTargets(map, { include: prune.include, exclude: prune.exclude });
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      problem(prune.include?.length ? "prune.include" : prune.exclude?.length ? "prune.exclude" : "prune", error.message);
    }
  }
}

/** Sequence lengths fit the model's positions; a protocol fits the family; stride <= seq_len. */
function checkSequences(loaded: LoadedConfig, map: ModelMap | undefined, limits: ModelLimits, problem: Problem): { lengths: SequenceLengths; notes: string[] } {
  const { config } = loaded;
  const notes: string[] = [];
  const fit = (asked: number | undefined, fallback: number, field: string) => {
    const f = fitSequenceLength(asked, fallback, limits, field);
    if (f.error) problem(field, f.error.slice(field.length + 2));
    if (f.note) notes.push(f.note);
    return f.seqLen;
  };
  const p = config.eval.perplexity;
  const lengths: SequenceLengths = {
    eval: fit(p ? p.seq_len : undefined, DEFAULT_SEQ_LEN.eval, "eval.perplexity.seq_len"),
    finetune: config.finetune && !config.finetune.command ? fit(config.finetune.seq_len, DEFAULT_SEQ_LEN.finetune, "finetune.seq_len") : DEFAULT_SEQ_LEN.finetune,
    calibration: fit(config.prune.calibration.seq_len, DEFAULT_SEQ_LEN.calibration, "prune.calibration.seq_len"),
  };
  if (p) {
    if (p.stride !== undefined && p.stride > lengths.eval) problem("eval.perplexity.stride", `${p.stride} is longer than seq_len ${lengths.eval}`);
    if (p.protocol && map && PROTOCOL_FAMILY[p.protocol as Protocol] !== map.family) {
      problem("eval.perplexity.protocol", `${p.protocol} is for ${PROTOCOL_FAMILY[p.protocol as Protocol]} models, but this one is ${map.family === "encoder" ? "an" : "a"} ${map.family} model`);
    }
  }
  const latency = config.eval.latency;
  if (latency && limits.positions) {
    latency.seq_len.forEach((s, i) => {
      if (s > limits.positions!.count) problem(`eval.latency.seq_len[${i}]`, `${s} is past the model's ${limits.positions!.count} positions (${limits.positions!.param})`);
    });
  }
  return { lengths, notes };
}

/** Every dataset the run will read resolves (downloads happen here, before any work). */
async function checkDatasets(loaded: LoadedConfig, cacheDir: string, problem: Problem): Promise<void> {
  const { config } = loaded;
  const refs: [string, string][] = [];
  if (config.eval.perplexity) refs.push(["eval.perplexity.dataset", config.eval.perplexity.dataset]);
  if (config.finetune && !config.finetune.command) refs.push(["finetune.dataset", config.finetune.dataset]);
  if (config.finetune?.validation) refs.push(["finetune.validation", config.finetune.validation]);
  const methods = [...config.prune.methods.map(safeName), config.prune.sensitivity ? config.prune.sensitivity.method : undefined];
  if (methods.some((m) => m && isCalibrated(m))) refs.push(["prune.calibration.dataset", config.prune.calibration.dataset]);
  for (const [field, ref] of refs) {
    try {
      await readDataset(ref, { configDir: loaded.dir, cacheDir });
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      problem(field, error.message);
    }
  }
}

function safeName(spec: MethodSpec): string | undefined {
  try {
    return parseMethodSpec(spec, "prune.methods").method;
  } catch {
    return undefined;
  }
}

function isCalibrated(method: string): boolean {
  try {
    return getMethod(method).calibrated;
  } catch {
    return false;
  }
}
