import path from "node:path";
import type { Command } from "commander";
import { UsageError } from "./errors.ts";
import { analysisMarkdown, analyzeRequest, DEFAULT_CUTOFFS, runAnalyze, type AnalyzeRequest, type NamedAnalysis } from "../analyze/index.ts";
import { loadConfig } from "../config/load.ts";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.ts";
import { fileInputs, modelInputs, refuseOverwrites, type OutputPath } from "../util/overwrite.ts";

export interface AnalyzeCommandOptions {
  json?: string;
  markdown?: string;
  cutoffs?: string;
}

/** What one input names: a model file, or a config's model with its `analyze` section and family. */
interface Target {
  name: string;
  request: AnalyzeRequest;
}

export function parseCutoffs(text: string): number[] {
  const values = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const numbers = values.map(Number);
  if (numbers.length === 0 || numbers.some((n) => !(n > 0) || !Number.isFinite(n))) {
    throw new UsageError(`--cutoffs: expected positive numbers separated by commas, got ${JSON.stringify(text)}`);
  }
  return numbers;
}

/** A model file, or a config naming one (its `analyze.cutoffs` and `family` apply; --cutoffs overrides). */
function resolveTarget(input: string, cutoffs: number[] | undefined): Target {
  if (/\.ya?ml$/i.test(input)) {
    const loaded = loadConfig(input);
    const source = loaded.config.model;
    if (!source.path) {
      throw new UsageError(`${input}: model.hf: analyze reads local files; run 'prunebench run' to download the model first, or give model.path`);
    }
    return { name: loaded.config.name, request: analyzeRequest({ model: path.resolve(loaded.dir, source.path), family: source.family, cutoffs: cutoffs ?? loaded.config.analyze.cutoffs }) };
  }
  if (!/\.onnx$/i.test(input)) throw new UsageError(`${input}: expected a .onnx model or a .yml config`);
  const base = path.basename(input, path.extname(input));
  return { name: base === "model" ? path.basename(path.dirname(path.resolve(input))) : base, request: analyzeRequest({ model: input, cutoffs }) };
}

export async function analyzeCommand(inputs: string[], options: AnalyzeCommandOptions): Promise<NamedAnalysis[]> {
  const cliCutoffs = options.cutoffs ? parseCutoffs(options.cutoffs) : undefined;
  const targets = inputs.map((input) => resolveTarget(input, cliCutoffs));
  const outputs: OutputPath[] = [...(options.json ? [{ path: options.json, flag: "--json" }] : []), ...(options.markdown ? [{ path: options.markdown, flag: "--markdown" }] : [])];
  refuseOverwrites([...fileInputs(inputs.map((input) => [input, `the input ${input}`])), ...targets.flatMap((t) => modelInputs(t.request.model, `the model ${t.request.model}`))], outputs);
  const results: NamedAnalysis[] = [];
  for (const target of targets) {
    let lastShown = 0;
    const { analysis, map } = runAnalyze(target.request, {
      onProgress: (done, total) => {
        const now = Date.now();
        if (process.stderr.isTTY && (now - lastShown > 200 || done === total)) {
          lastShown = now;
          process.stderr.write(`\ranalyze ${target.name}: ${((100 * done) / Math.max(1, total)).toFixed(0)}%`);
        }
      },
    });
    if (process.stderr.isTTY) process.stderr.write("\n");
    console.error(
      `analyze ${target.name}: ${map.architecture}, ${analysis.params.total.toLocaleString("en-US")} parameters, ` +
        analysis.cutoffs.map((c, i) => `|w| < ${c}: ${analysis.belowCutoff[i].toFixed(3)}`).join(", ") +
        ` (${analysis.seconds.toFixed(2)} s)`,
    );
    results.push({ name: target.name, analysis });
    await Promise.resolve();
  }
  if (options.json) {
    const doc = results.length === 1 ? { model: results[0].name, analysis: results[0].analysis } : { models: results.map((r) => ({ model: r.name, analysis: r.analysis })) };
    writeJsonAtomic(options.json, doc);
  }
  if (options.markdown) writeFileAtomic(options.markdown, analysisMarkdown(results));
  if (!options.json && !options.markdown) process.stdout.write(`${analysisMarkdown(results)}\n`);
  return results;
}

export function register(program: Command): void {
  program
    .command("analyze <inputs...>")
    .description("weight statistics of models or configs: counts, histograms, |w| below cutoffs, per layer")
    .option("--json <file>", "write the Analysis JSON ({model, analysis}, or {models: [...]} for several)")
    .option("--markdown <file>", "write the tables and chart URLs as Markdown (printed to stdout when neither file is given)")
    .option("--cutoffs <list>", `cutoffs of the table, comma-separated (default ${DEFAULT_CUTOFFS.join(",")}, or the config's analyze.cutoffs)`)
    .action(async (inputs: string[], options: AnalyzeCommandOptions) => {
      await analyzeCommand(inputs, options);
    });
}
