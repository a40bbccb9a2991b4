import path from "node:path";
import type { Command } from "commander";
import { UsageError } from "./errors.ts";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.ts";
import { readResultFile } from "../results/read.ts";
import { renderReport } from "../report/render.ts";
import { reportFilePaths, writeReportFiles } from "../report/files.ts";
import { fileInputs, refuseOverwrites, type OutputPath } from "../util/overwrite.ts";
import type { ChartMode, PartialThresholds } from "../report/types.ts";

interface ReportCliOptions {
  base?: string[];
  out?: string;
  charts: string;
  assets?: string;
  json?: string;
  failOnRegression?: boolean;
  id: string;
  maxChars?: string;
  artifactUrl?: string;
  pplTolerance?: string;
  pplAbs?: string;
  reachTolerance?: string;
  latencyThreshold?: string;
  confidence?: string;
  png: boolean;
}

/** "5%" or 0.05. */
export function fraction(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const n = value.endsWith("%") ? Number(value.slice(0, -1)) / 100 : Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${option}: expected a number or a percentage such as "5%", got ${JSON.stringify(value)}`);
  return n;
}

export type ThresholdFlags = Pick<ReportCliOptions, "pplTolerance" | "pplAbs" | "reachTolerance" | "latencyThreshold" | "confidence">;

/** The regression thresholds' flags, as `report` and `dashboard` both take them. */
export function thresholdsFromFlags(opts: ThresholdFlags): PartialThresholds {
  const confidence = fraction(opts.confidence, "confidence");
  if (confidence !== undefined && !(confidence > 0 && confidence < 1)) throw new UsageError(`--confidence: expected a value between 0 and 1, got ${opts.confidence}`);
  return {
    perplexity: { relative: fraction(opts.pplTolerance, "ppl-tolerance"), absolute: fraction(opts.pplAbs, "ppl-abs") },
    latency: { relative: fraction(opts.latencyThreshold, "latency-threshold"), confidence },
    reach: { absolute: fraction(opts.reachTolerance, "reach-tolerance") },
  };
}

export function addThresholdFlags(command: Command): Command {
  return command
    .option("--ppl-tolerance <rel>", "relative perplexity tolerance (default 1%)")
    .option("--ppl-abs <abs>", "absolute perplexity tolerance (default 0.001)")
    .option("--reach-tolerance <sparsity>", "fall of a budget search's reach that is a regression, e.g. 0.02 (default: each config's regression.reach)")
    .option("--latency-threshold <rel>", "smallest latency change that counts (default 5%)")
    .option("--confidence <c>", "confidence of latency verdicts (default 0.99)");
}

/** Where report writes: --out, --json, and --assets' files and charts folder (src/report/files.ts). */
function reportOutputs(opts: ReportCliOptions): OutputPath[] {
  const outputs: OutputPath[] = [];
  if (opts.out) outputs.push({ path: opts.out, flag: "--out" });
  if (opts.json) outputs.push({ path: opts.json, flag: "--json" });
  if (opts.assets) {
    const files = reportFilePaths(opts.assets);
    outputs.push(...[files.markdown, files.full, files.verdict].map((p) => ({ path: p, flag: `--assets (${path.basename(p)})` })), { path: files.charts, flag: "--assets (charts/)", folder: true });
  }
  return outputs;
}

export async function reportCommand(files: string[], opts: ReportCliOptions): Promise<void> {
  const modes: ChartMode[] = ["quickchart", "mermaid", "none", "local"];
  if (!modes.includes(opts.charts as ChartMode)) throw new UsageError(`--charts: expected one of ${modes.join(", ")}, got ${JSON.stringify(opts.charts)}`);
  const thresholds = thresholdsFromFlags(opts);
  const maxChars = opts.maxChars === undefined ? undefined : Number(opts.maxChars);
  if (maxChars !== undefined && !(Number.isInteger(maxChars) && maxChars > 0)) throw new UsageError(`--max-chars: expected a positive integer, got ${opts.maxChars}`);
  refuseOverwrites(fileInputs([...files.map((f): [string, string] => [f, "a result file"]), ...(opts.base ?? []).map((f): [string, string] => [f, "a base result file (--base)"])]), reportOutputs(opts));
  const results = files.map(readResultFile);
  const base = opts.base?.length ? opts.base.map(readResultFile) : undefined;
  const report = renderReport({
    results,
    base,
    options: {
      charts: opts.charts as ChartMode,
      id: opts.id,
      maxChars,
      artifactUrl: opts.artifactUrl,
      thresholds,
    },
  });
  // The fitter shortens down to the marker, the title, the verdict and the worst comparison; below that it cannot go.
  if (maxChars !== undefined && report.markdown.length > maxChars) {
    throw new UsageError(`--max-chars ${maxChars}: the shortest this report can be is ${report.markdown.length} characters (its marker, title, verdict and worst comparison); give at least ${report.markdown.length}`);
  }
  if (opts.out) writeFileAtomic(opts.out, report.markdown);
  else process.stdout.write(report.markdown);
  if (opts.assets) {
    const written = await writeReportFiles(opts.assets, report, { png: opts.png });
    console.error(`report: wrote ${written.charts.length} charts and the full report to ${opts.assets}`);
  }
  if (opts.json) writeJsonAtomic(opts.json, report.verdict);
  console.error(`report: ${report.verdict.state}` + (report.dropped.length ? ` (left out for size: ${report.dropped.join(", ")})` : ""));
  if (opts.failOnRegression && report.verdict.state === "regression") throw new UsageError("regression found (--fail-on-regression)", 4);
}

export function register(program: Command): void {
  const command = program
    .command("report <results...>")
    .description("Markdown report from result files, with verdicts against a base")
    .option("--base <results...>", "result files of the base to compare with")
    .option("--out <file>", "write the Markdown here instead of stdout")
    .option("--charts <mode>", "quickchart | mermaid | none | local", "quickchart")
    .option("--assets <dir>", "write report.md, report-full.md, verdict.json and charts (SVG, PNG) here")
    .option("--no-png", "with --assets: SVG charts only")
    .option("--json <file>", "write the verdict as JSON")
    .option("--fail-on-regression", "exit with status 4 when a regression is found")
    .option("--id <id>", "id in the hidden marker that finds the comment again", "default")
    .option("--max-chars <n>", "longest Markdown allowed (default fits a GitHub comment)")
    .option("--artifact-url <url>", "where the full report is, named when sections are left out");
  addThresholdFlags(command).action((files: string[], opts: ReportCliOptions) => reportCommand(files, opts));
}
