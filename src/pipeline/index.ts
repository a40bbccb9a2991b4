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
import { resultFile, runConfig } from "./run-config.ts";

export { RunInterrupted, createStopSignal } from "./context.ts";
export { resultFile } from "./run-config.ts";

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

/**
 * `prunebench run`: every config is validated (and its sweep planned) before any work starts,
 * then each runs in turn and the report is written from the result files.
 */
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

export async function runConfigs(options: RunConfigsOptions): Promise<RunConfigsResult> {
  const { loaded, problems } = loadConfigs(options.configs);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const prepared = await preflightConfigs(loaded, { cacheDir, problems });
  const progress = options.progress ?? createProgress();
  const stop = options.stop ?? createStopSignal();
  const results: Result[] = [];
  for (const p of prepared) {
    const l = p.loaded;
    progress.log(`== ${l.config.name} (${path.relative(process.cwd(), l.file) || l.file})`);
    results.push(await runConfig(p, { outDir: options.outDir, cacheDir, progress, stop, commit: options.commit, shard: options.shard, providers: options.providers }));
  }
  const out: RunConfigsResult = { results, resultFiles: loaded.map((l) => resultFile(options.outDir, l.config.name)) };
  if (options.report !== false) {
    const report = renderReport({ results, base: options.base, options: { charts: options.charts ?? "quickchart" } });
    const written = await writeReportFiles(options.outDir, report);
    out.report = report;
    out.reportFile = written.markdown;
  }
  return out;
}
