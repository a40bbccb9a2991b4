import type { Result, Run } from "../results/schema.ts";
import type { ChartSpec, SeriesSpec } from "../report/types.ts";
import { chartId, fitAxis, series } from "../report/charts/build.ts";
import { MethodColors } from "../report/charts/palette.ts";
import { chartLabel } from "../report/escape.ts";
import { fmtPercent } from "../report/format.ts";
import { isDense, latencyFor, latencyKeys, methodLabel } from "../report/runs.ts";
import type { Change } from "./changes.ts";
import type { RunnerHistory } from "./history.ts";

export const CHART_WIDTH = 520;
export const CHART_HEIGHT = 240;

/** One model on one runner: its charts, a pair per sparsity (perplexity, latency). */
export interface ModelCharts {
  model: string;
  charts: ChartSpec[];
}

/** A run's place in the charts: its line (method and fine-tuning) at its sparsity. */
function lineName(run: Run): string {
  const label = isDense(run) ? "dense" : methodLabel(run);
  return `${label}${run.finetuned ? " + fine-tune" : ""}`;
}

/** Runs the charts show: the config's sweep, not the points a budget search tried, nor failures. */
function charted(run: Run): boolean {
  return !run.search && !run.error;
}

/** Short shas for the x axis; longer where seven digits would repeat. */
export function commitLabels(shas: string[]): string[] {
  for (const n of [7, 10, 12, 40]) {
    const labels = shas.map((s) => s.slice(0, n));
    if (new Set(labels).size === labels.length) return labels;
  }
  return shas;
}

interface ModelSeries {
  fingerprint: string;
  model: string;
  /** The model's results, at their commit's index on the runner's axis. */
  seen: Array<{ i: number; sha: string; result: Result }>;
  categories: string[];
  colors: MethodColors;
  /** The latency setting drawn: the newest result's first. */
  key: string | undefined;
  /** The model's regressions on this runner. */
  regressions: Change[];
  commitUrl: (sha: string) => string | undefined;
}

/**
 * Perplexity and median latency over the runner's commits, one chart per model and sparsity,
 * with the report's colors (one per method, fine-tuned dashed in it, dense gray); every point
 * links to its commit, and a regression called against the previous commit is ringed.
 */
export function modelCharts(runner: RunnerHistory, changes: Change[], commitUrl: (sha: string) => string | undefined): ModelCharts[] {
  const categories = commitLabels(runner.points.map((p) => p.commit.sha));
  const models = [...new Set(runner.points.flatMap((p) => p.results.map((r) => r.model)))];
  return models.map((model) => {
    const seen = runner.points.flatMap((p, i) => {
      const result = p.results.find((r) => r.model === model);
      return result ? [{ i, sha: p.commit.sha, result }] : [];
    });
    const pruned = seen.flatMap(({ result }) => result.runs.filter((r) => charted(r) && !isDense(r)));
    const colors = new MethodColors();
    for (const run of pruned) colors.of(methodLabel(run));
    const regressions = changes.filter((c) => c.fingerprint === runner.fingerprint && c.comparison.model === model && c.comparison.state === "regression");
    const m: ModelSeries = { fingerprint: runner.fingerprint, model, seen, categories, colors, key: latencyKeys(seen[seen.length - 1].result)[0], regressions, commitUrl };
    const sparsities = [...new Set(pruned.map((r) => r.sparsity))].sort((a, b) => a - b);
    // A model measured dense only still gets its two charts.
    const charts = (sparsities.length ? sparsities : [undefined]).flatMap((sparsity) => [historyChart(m, "perplexity", sparsity), historyChart(m, "latency", sparsity)]);
    return { model, charts: charts.filter((c): c is ChartSpec => c !== null) };
  });
}

/** One metric of one model at one sparsity (undefined: dense only) over the commits; null when nothing was measured. */
function historyChart(m: ModelSeries, metric: "perplexity" | "latency", sparsity: number | undefined): ChartSpec | null {
  const { key } = m;
  const value = (run: Run): number | undefined => (metric === "perplexity" ? run.perplexity?.token : key ? latencyFor(run, key)?.p50 : undefined);
  const lines = new Map<string, { dense: boolean; label: string; finetuned: boolean; points: { x: number; y: number; href?: string }[] }>();
  const ringed: { x: number; y: number; href?: string }[] = [];
  for (const { i, sha, result } of m.seen) {
    const href = m.commitUrl(sha);
    for (const run of result.runs.filter((r) => charted(r) && (isDense(r) || r.sparsity === sparsity))) {
      // Fine-tuning keeps the mask, so latency is the pruned model's: pruned lines only, as in the report.
      const y = metric === "latency" && run.finetuned ? undefined : value(run);
      if (y === undefined) continue;
      const point = { x: i, y, ...(href ? { href } : {}) };
      const name = lineName(run);
      if (!lines.has(name)) lines.set(name, { dense: isDense(run), label: isDense(run) ? "dense" : methodLabel(run), finetuned: run.finetuned, points: [] });
      lines.get(name)!.points.push(point);
      const regressed = m.regressions.some((c) => c.commit.sha === sha && c.comparison.runId === run.id && c.comparison.metric === metric && (metric === "perplexity" || c.comparison.key === key));
      if (regressed) ringed.push(point);
    }
  }
  const all = [...lines.values()];
  if (!all.length || (sparsity !== undefined && all.every((l) => l.dense))) return null;
  const ordered = [...lines.entries()].sort(([, a], [, b]) => Number(b.dense) - Number(a.dense) || m.colors.of(a.label) - m.colors.of(b.label) || Number(a.finetuned) - Number(b.finetuned));
  const specs: SeriesSpec[] = ordered.map(([name, l]) => series(name, l.points, { color: l.dense ? -1 : m.colors.of(l.label), ...(l.finetuned ? { dashed: true } : {}) }));
  if (ringed.length) specs.push(series("regression", ringed, { rings: true }));
  const where = sparsity === undefined ? "" : ` at ${fmtPercent(sparsity)} sparsity`;
  return {
    id: chartId(m.fingerprint, m.model, String(Math.round((sparsity ?? 0) * 1000)), metric),
    title: metric === "perplexity" ? `${chartLabel(m.model)}: perplexity${where}` : `${chartLabel(m.model)}: p50 latency${where} (${chartLabel(key ?? "")})`,
    kind: "line",
    x: { label: "commit", scale: "linear", categories: m.categories },
    y: fitAxis(metric === "perplexity" ? "token perplexity" : "p50 latency (ms)", specs.flatMap((s) => s.points.map((p) => p.y))),
    series: specs,
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    caption: ringed.length ? `Red rings: ${ringed.length === 1 ? "a regression" : `${ringed.length} regressions`} against the previous commit on this runner.` : undefined,
  };
}

/** The newest result of a model on a runner, and the one before it (for the table's changes). */
export function newestPair(runner: RunnerHistory, model: string): { newest?: { sha: string; result: Result }; previous?: { sha: string; result: Result } } {
  const seen = runner.points.flatMap((p) => p.results.filter((r) => r.model === model).map((result) => ({ sha: p.commit.sha, result })));
  return { newest: seen[seen.length - 1], previous: seen[seen.length - 2] };
}
