import type { Command } from "commander";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { EXIT, UserError } from "../errors.ts";
import { createStopSignal, runConfigs } from "../pipeline/index.ts";
import type { ChartMode } from "../report/types.ts";
import { UsageError } from "./errors.ts";
import { withInterrupt } from "./interrupt.ts";

interface RunCliOptions {
  out: string;
  cache?: string;
  charts: string;
  report: boolean;
  providers?: string;
}

function parseProviders(text: string | undefined): Array<"cpu" | "cuda"> | undefined {
  if (text === undefined) return undefined;
  const list = text.split(",").map((p) => p.trim());
  for (const p of list) if (p !== "cpu" && p !== "cuda") throw new UsageError(`--providers: expected cpu and/or cuda, got ${JSON.stringify(p)}`);
  return list as Array<"cpu" | "cuda">;
}

/** Configs given, or every YAML file under models/ and demo/ when none are. */
function configFiles(args: string[]): string[] {
  if (args.length > 0) return args;
  // fs.globSync is Node 22+; the CLI runs on Node 20.
  const found = ["models", "demo"].flatMap((dir) =>
    existsSync(dir) ? readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, f)).sort() : [],
  );
  if (found.length === 0) throw new UsageError("no configs given and none found in models/ or demo/");
  return found;
}

export function register(program: Command): void {
  program
    .command("run [configs...]")
    .description("the whole study for each config: analyze, prune, fine-tune, evaluate, report (resumes where it stopped)")
    .option("--out <dir>", "output folder: results/, report.md, charts/, stage journal", "out")
    .option("--cache <dir>", "cache for downloads and token ids (default $PRUNEBENCH_CACHE or ~/.cache/prunebench)")
    .option("--charts <mode>", "charts in report.md: quickchart | mermaid | local | none", "local")
    .option("--no-report", "write results only (matrix shards)")
    .option("--providers <list>", "latency providers for every config, e.g. cpu or cuda,cpu (overrides the configs)")
    .action(async (configs: string[], opts: RunCliOptions) => {
      const stop = createStopSignal();
      // First Ctrl-C stops after the current batch and keeps finished stages; a second one kills.
      await withInterrupt(stop, "stopping after the current batch (Ctrl-C again to kill); run the same command to resume", async () => {
        const done = await runConfigs({ configs: configFiles(configs), outDir: opts.out, cacheDir: opts.cache, stop, charts: opts.charts as ChartMode, report: opts.report, providers: parseProviders(opts.providers) });
        for (const f of done.resultFiles) console.error(`results: ${f}`);
        if (done.reportFile) console.error(`report: ${done.reportFile} (${done.report?.verdict.state})`);
        const failed = done.results.flatMap((r) => r.runs.filter((run) => run.error).map((run) => `${r.model} ${run.id}`));
        // The sweep went on past them and everything is written; the exit code still says so (CI must not go green).
        if (failed.length) throw new UserError(`${failed.length} run${failed.length === 1 ? "" : "s"} failed: ${failed.slice(0, 5).join(", ")}${failed.length > 5 ? ", ..." : ""} (the errors are in the results and at the top of the report)`, { exitCode: EXIT.runsFailed });
      });
    });
}
