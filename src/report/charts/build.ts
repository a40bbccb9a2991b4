import type { Result } from "../../results/schema.ts";
import type { Histogram } from "../../results/analysis.ts";
import type { AxisSpec, ChartSpec, SeriesSpec } from "../types.ts";
import { chartLabel, slug } from "../escape.ts";
import { round } from "../format.ts";
import { denseRun, denseTunedRun, latencyFor, latencyKeys, methodGroups, methodLabel, type MethodGroup } from "../runs.ts";
import { paretoFront } from "./pareto.ts";
import { MethodColors } from "./palette.ts";

export const W = 640;
export const H = 360;

export function series(name: string, points: { x: number; y: number; href?: string }[], extra: Partial<SeriesSpec> = {}): SeriesSpec {
  return { name: chartLabel(name), points: points.map((p) => ({ x: round(p.x, 3), y: round(p.y, 3), ...(p.href ? { href: p.href } : {}) })), ...extra };
}

/**
 * An axis over `values` with a little room on both sides, so the data fills the chart (a log
 * axis that Vega rounds outward runs 1 to 100 for perplexities between 7 and 17). Log only
 * where the values span `logRatio` times or more: below that a log axis has too few ticks to read.
 */
export function fitAxis(label: string, values: number[], options: { logRatio?: number; percent?: boolean } = {}): AxisSpec {
  const finite = values.filter(Number.isFinite);
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const axis: AxisSpec = { label, scale: "linear", ...(options.percent ? { percent: true } : {}) };
  if (!finite.length) return axis;
  if (options.logRatio !== undefined && lo > 0 && hi / lo >= options.logRatio) {
    const pad = (hi / lo) ** 0.04;
    return { ...axis, scale: "log", domain: [round(lo / pad, 3), round(hi * pad, 3)] };
  }
  const pad = hi > lo ? (hi - lo) * 0.06 : Math.abs(hi) * 0.05 || 1;
  // Nothing below zero for quantities that cannot be negative.
  return { ...axis, domain: [round(lo >= 0 ? Math.max(0, lo - pad) : lo - pad, 3), round(hi + pad, 3)] };
}

/** Perplexities span 7 to 17 in one model and 30 to 3000 in another: log only for the second kind. */
const PERPLEXITY_LOG_RATIO = 8;

/** One color per method in the table's order: pruned and fine-tuned series of a method share it. */
export function methodColors(result: Result): MethodColors {
  const colors = new MethodColors();
  for (const g of methodGroups(result)) colors.of(g.label);
  return colors;
}

/** Method groups in the table's order: by method, pruned before fine-tuned, so the legend reads as the table does. */
function tableOrder(groups: MethodGroup[], colors: MethodColors): MethodGroup[] {
  return [...groups].sort((a, b) => colors.of(a.label) - colors.of(b.label) || Number(a.finetuned) - Number(b.finetuned));
}

/**
 * Perplexity against sparsity, one color per method, dashed after fine-tuning; dense at 0
 * (the dense model fine-tuned with the same recipe starts the dashed lines where it exists).
 */
export function perplexityChart(result: Result, id: string): ChartSpec | null {
  const dense = denseRun(result);
  const denseTuned = denseTunedRun(result);
  const colors = methodColors(result);
  const lines: SeriesSpec[] = [];
  for (const g of tableOrder(methodGroups(result), colors)) {
    const points = g.runs.filter((r) => r.perplexity).map((r) => ({ x: r.sparsity, y: r.perplexity!.token }));
    if (!points.length) continue;
    const start = g.finetuned ? denseTuned : dense;
    if (start?.perplexity) points.unshift({ x: 0, y: start.perplexity.token });
    lines.push(series(`${g.label}${g.finetuned ? " + fine-tune" : ""}`, points, { color: colors.of(g.label), ...(g.finetuned ? { dashed: true } : {}) }));
  }
  if (!lines.length) return null;
  const ys = lines.flatMap((l) => l.points.map((p) => p.y));
  return {
    id,
    title: `${chartLabel(result.model)}: perplexity vs sparsity`,
    kind: "line",
    x: fitAxis("sparsity", lines.flatMap((l) => l.points.map((p) => p.x)), { percent: true }),
    y: fitAxis("token perplexity", ys, { logRatio: PERPLEXITY_LOG_RATIO }),
    series: lines,
    width: W,
    height: H,
    redundant: true,
  };
}

/** Median latency against sparsity for the model's first latency setting, one color per method. */
export function latencyChart(result: Result, id: string): ChartSpec | null {
  const key = latencyKeys(result)[0];
  if (!key) return null;
  const dense = denseRun(result);
  const denseL = dense && latencyFor(dense, key);
  const colors = methodColors(result);
  const lines: SeriesSpec[] = [];
  // Fine-tuning keeps the mask, so the latency is the pruned model's: pruned groups only.
  for (const g of methodGroups(result).filter((g) => !g.finetuned)) {
    const points = g.runs.flatMap((r) => {
      const l = latencyFor(r, key);
      return l ? [{ x: r.sparsity, y: l.p50 }] : [];
    });
    if (!points.length) continue;
    if (denseL) points.unshift({ x: 0, y: denseL.p50 });
    lines.push(series(g.label, points, { color: colors.of(g.label) }));
  }
  if (!lines.length) return null;
  return {
    id,
    title: `${chartLabel(result.model)}: median latency vs sparsity (${key})`,
    kind: "line",
    x: fitAxis("sparsity", lines.flatMap((l) => l.points.map((p) => p.x)), { percent: true }),
    y: fitAxis("p50 latency (ms)", lines.flatMap((l) => l.points.map((p) => p.y))),
    series: lines,
    width: W,
    height: H,
    redundant: true,
  };
}

/**
 * Perplexity against median latency for every run; the Pareto front drawn as a line. One
 * color per method; fine-tuned runs are the same color, drawn hollow.
 */
export function paretoChart(result: Result, id: string): ChartSpec | null {
  const key = latencyKeys(result)[0];
  if (!key) return null;
  const points = result.runs.flatMap((r) => {
    const l = latencyFor(r, key);
    return l && r.perplexity && !r.error ? [{ run: r, x: l.p50, y: r.perplexity.token }] : [];
  });
  if (points.length < 2) return null;
  const colors = methodColors(result);
  const byMethod = new Map<string, { label: string; finetuned: boolean; points: { x: number; y: number }[] }>();
  for (const p of points) {
    const label = p.run === denseRun(result) || (p.run.finetuned && p.run === denseTunedRun(result)) ? "dense" : methodLabel(p.run);
    const name = `${label}${p.run.finetuned ? " + fine-tune" : ""}`;
    if (!byMethod.has(name)) byMethod.set(name, { label, finetuned: p.run.finetuned, points: [] });
    byMethod.get(name)!.points.push({ x: p.x, y: p.y });
  }
  const ordered = [...byMethod].sort(([, a], [, b]) => colors.of(a.label) - colors.of(b.label) || Number(a.finetuned) - Number(b.finetuned));
  const front = paretoFront(points).map((p) => ({ x: p.x, y: p.y }));
  return {
    id,
    title: `${chartLabel(result.model)}: perplexity vs latency (${key})`,
    kind: "scatter",
    x: fitAxis("p50 latency (ms)", points.map((p) => p.x)),
    y: fitAxis("token perplexity", points.map((p) => p.y), { logRatio: PERPLEXITY_LOG_RATIO }),
    series: [
      series("Pareto front", front, { connect: true }),
      ...ordered.map(([name, m]) => series(name, m.points, { color: colors.of(m.label), ...(m.finetuned ? { dashed: true } : {}) })),
    ],
    width: W,
    height: H,
    caption: "The dashed line joins the Pareto front: runs that no other run beats on both perplexity and latency. Hollow points are fine-tuned.",
  };
}

/** Rebins a histogram to at most `max` bins and returns fractions of its total at bin centers. */
export function histogramPoints(h: Histogram, max = 32): { x: number; y: number }[] {
  const n = h.counts.length;
  if (!n) return [];
  const group = Math.ceil(n / max);
  const total = h.counts.reduce((a, b) => a + b, 0) + h.under + h.over || 1;
  const width = (h.hi - h.lo) / n;
  const out: { x: number; y: number }[] = [];
  for (let i = 0; i < n; i += group) {
    let sum = 0;
    const end = Math.min(n, i + group);
    for (let j = i; j < end; j++) sum += h.counts[j];
    out.push({ x: h.lo + ((i + end) / 2) * width, y: sum / total });
  }
  return out;
}

/** The log10|w| histogram of every model in one chart: where the weights of each model live. */
export function log10HistogramChart(results: Result[], id: string): ChartSpec | null {
  const lines = results.flatMap((r) => (r.analysis ? [series(r.model, histogramPoints(r.analysis.all.log10))] : []));
  if (!lines.length) return null;
  return {
    id,
    title: "Weight magnitudes, all models",
    kind: "step",
    x: { label: "log10 |w|", scale: "linear" },
    y: { label: "fraction of weights", scale: "linear", percent: true },
    series: lines,
    width: W,
    height: H,
  };
}

/** The linear histogram of w per part of one model (the study's "peaky at 0"). */
export function linearHistogramChart(result: Result, id: string): ChartSpec | null {
  const a = result.analysis;
  if (!a) return null;
  const parts = Object.keys(a.byPart).length > 1 ? Object.entries(a.byPart) : [["all", a.all] as const];
  const lines = parts.map(([part, d]) => series(part, histogramPoints(d.linear)));
  return {
    id,
    title: `${chartLabel(result.model)}: weight histogram`,
    kind: "step",
    x: { label: "w", scale: "linear" },
    y: { label: "fraction of weights", scale: "linear", percent: true },
    series: lines,
    width: W,
    height: H,
  };
}

export function belowCutoffChart(results: Result[], id: string, view: "raw" | "scaleFree"): ChartSpec | null {
  const lines = results.flatMap((r) => {
    const curve = r.analysis?.all[view];
    if (!curve) return [];
    const points = curve.cutoffs.map((c, i) => ({ x: c, y: curve.fraction[i] })).filter((p) => p.x > 0);
    // Grids of ten points a decade make long URLs; every other point draws the same curve.
    const step = Math.ceil(points.length / 28);
    return [series(r.model, points.filter((_, i) => i % step === 0 || i === points.length - 1))];
  });
  if (!lines.length) return null;
  return {
    id,
    title: view === "raw" ? "Fraction of weights with |w| < c" : "Fraction of weights with |w|/σ < c (σ per matrix)",
    kind: "line",
    x: { label: view === "raw" ? "cutoff c" : "cutoff c (units of σ)", scale: "log" },
    y: { label: "fraction below", scale: "linear", percent: true },
    series: lines,
    width: W,
    height: H,
  };
}

/** Fraction below the first cutoff, layer by layer, one line per model and part. */
export function perLayerChart(results: Result[], id: string): ChartSpec | null {
  const lines: SeriesSpec[] = [];
  let cutoff: number | undefined;
  for (const [modelIndex, r] of results.entries()) {
    const a = r.analysis;
    if (!a?.perLayer.length || !a.cutoffs.length) continue;
    cutoff ??= a.cutoffs[0];
    const parts = [...new Set(a.perLayer.map((l) => l.part))];
    for (const part of parts) {
      const layers = a.perLayer.filter((l) => l.part === part).sort((x, y) => x.layer - y.layer);
      const name = parts.length > 1 || part !== "shared" ? `${r.model} ${part}` : r.model;
      // One color per model; a model's decoder dashed beside its encoder.
      const dashed = part === "decoder" && parts.length > 1;
      lines.push(series(name, layers.map((l) => ({ x: l.layer, y: l.belowCutoff[0] })), { color: modelIndex, ...(dashed ? { dashed } : {}) }));
    }
  }
  if (!lines.length) return null;
  return {
    id,
    title: `Per layer: fraction with |w| < ${cutoff}`,
    kind: "line",
    x: { label: "layer", scale: "linear", integer: true },
    y: { label: "fraction below", scale: "linear", percent: true },
    series: lines,
    width: W,
    height: H,
  };
}

export function sensitivityChart(result: Result, id: string): ChartSpec | null {
  const s = result.sensitivity;
  if (!s?.layers.length) return null;
  const categories = s.layers.map((l) => chartLabel(`${l.part} ${l.layer}`));
  return {
    id,
    title: `${chartLabel(result.model)}: perplexity increase when one layer is pruned (${chartLabel(s.method)} ${round(s.sparsity * 100, 3)}%)`,
    kind: "bar",
    x: { label: "layer", scale: "linear", categories },
    y: { label: "perplexity increase", scale: "linear", percent: true },
    series: [series("increase", s.layers.map((l, i) => ({ x: i, y: l.perplexity / s.baseline - 1 })))],
    width: W,
    height: H,
  };
}

export function chartId(...parts: string[]): string {
  return parts.map(slug).join("-");
}
