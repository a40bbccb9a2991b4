import { mkdirSync } from "node:fs";
import path from "node:path";
import { loadConfig, type LoadedConfig } from "../config/load.ts";
import { UserError } from "../errors.ts";
import { defaultCacheDir } from "../eval/token-cache.ts";
import { renderReport } from "../report/render.ts";
import { writeReportFiles } from "../report/files.ts";
import type { ChartMode, RenderedReport } from "../report/types.ts";
import type { Result } from "../results/schema.ts";
import { createStopSignal, type StopSignal } from "./context.ts";
import { preflightConfigs } from "./preflight.ts";
import { createProgress, type Progress } from "./progress.ts";
import { folderResults, lockOutFolder, resultFile, runOutputs } from "./out-folder.ts";
import { runConfig } from "./run-config.ts";
import { fileInputs, modelInputs, refuseOverwrites } from "../util/overwrite.ts";

export { RunInterrupted, createStopSignal } from "./context.ts";
export { resultFile } from "./out-folder.ts";

export interface RunConfigsOptions {
  configs: string[];
  outDir: string;
  cacheDir?: string;
  progress?: Progress;
  stop?: StopSignal;
  commit?: string | null;
  shard?: string;
  /** Chart form in the report (default quickchart, as the PR comment shows it). */
  charts?: ChartMode;
  /** Results to compare with (the base branch's). */
  base?: Result[];
  /** Skip the report (matrix shards leave it to the merge job). */
  report?: boolean;
  /** Keep latency to these providers whatever the configs say. */
  providers?: Array<"cpu" | "cuda">;
}

export interface RunConfigsResult {
  results: Result[];
  resultFiles: string[];
  report?: RenderedReport;
  reportFile?: string;
}

/** Every config read and schema-checked; their problems are reported with preflight's, together. */
function loadConfigs(files: string[]): { loaded: LoadedConfig[]; problems: UserError[] } {
  const problems: UserError[] = [];
  const loaded: LoadedConfig[] = [];
  for (const file of files) {
    try {
      loaded.push(loadConfig(file));
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      problems.push(error);
    }
  }
  return { loaded, problems };
}

/**
 * `prunebench run`: every config is validated (and its sweep planned) before any work starts,
 * and no path the run writes may be one of their models; then, holding the output folder's
 * lock (a second run into the same folder waits), each config runs in turn, and the report is
 * written from every result file in the folder.
 */
export async function runConfigs(options: RunConfigsOptions): Promise<RunConfigsResult> {
  const { loaded, problems } = loadConfigs(options.configs);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const prepared = await preflightConfigs(loaded, { cacheDir, problems });
  // Results, journals and the report must never land on a config's model (which may live in the folder).
  const inputs = prepared.flatMap((p) => [
    ...fileInputs([[p.loaded.file, "a config"], [p.files.tokenizer, `the tokenizer of ${p.loaded.file}`]]),
    ...modelInputs(p.files.model, `the model of ${p.loaded.file}`),
  ]);
  refuseOverwrites(inputs, runOutputs(options.outDir, loaded.map((l) => l.config.name), options.report !== false));
  const progress = options.progress ?? createProgress();
  const stop = options.stop ?? createStopSignal();
  mkdirSync(options.outDir, { recursive: true });
  const lock = await lockOutFolder(options.outDir, { stop, log: (line) => progress.log(line) });
  try {
    const results: Result[] = [];
    for (const p of prepared) {
      const l = p.loaded;
      progress.log(`== ${l.config.name} (${path.relative(process.cwd(), l.file) || l.file})`);
      results.push(await runConfig(p, { outDir: options.outDir, cacheDir, progress, stop, commit: options.commit, shard: options.shard, providers: options.providers }));
    }
    const out: RunConfigsResult = { results, resultFiles: loaded.map((l) => resultFile(options.outDir, l.config.name)) };
    if (options.report !== false) {
      // The folder's every result, so runs of other configs into the same --out stay in the report.
      const all = folderResults(options.outDir, results, (line) => progress.log(line));
      const report = renderReport({ results: all, base: options.base, options: { charts: options.charts ?? "quickchart" } });
      const written = await writeReportFiles(options.outDir, report);
      out.report = report;
      out.reportFile = written.markdown;
    }
    return out;
  } finally {
    lock.release();
  }
}
