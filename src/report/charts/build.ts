import type { Result } from "../../results/schema.ts";
import type { Histogram } from "../../results/analysis.ts";
import type { ChartSpec, SeriesSpec } from "../types.ts";
import { chartLabel, slug } from "../escape.ts";
import { round } from "../format.ts";
import { denseRun, latencyFor, latencyKeys, methodGroups, methodLabel } from "../runs.ts";
import { paretoFront } from "./pareto.ts";

const W = 640;
const H = 360;

function series(name: string, points: { x: number; y: number }[], extra: Partial<SeriesSpec> = {}): SeriesSpec {
  return { name: chartLabel(name), points: points.map((p) => ({ x: round(p.x, 3), y: round(p.y, 3) })), ...extra };
}

/** Perplexity against sparsity, one line per method, dashed after fine-tuning; dense at 0. */
export function perplexityChart(result: Result, id: string): ChartSpec | null {
  const dense = denseRun(result);
  const lines: SeriesSpec[] = [];
  for (const g of methodGroups(result)) {
    const points = g.runs.filter((r) => r.perplexity).map((r) => ({ x: r.sparsity, y: r.perplexity!.token }));
    if (!points.length) continue;
    if (dense?.perplexity && !g.finetuned) points.unshift({ x: 0, y: dense.perplexity.token });
    lines.push(series(`${g.label}${g.finetuned ? " + fine-tune" : ""}`, points, g.finetuned ? { dashed: true } : {}));
  }
  if (!lines.length) return null;
  return {
    id,
    title: `${chartLabel(result.model)}: perplexity vs sparsity`,
    kind: "line",
    x: { label: "sparsity", scale: "linear", percent: true },
    y: { label: "token perplexity", scale: "log" },
    series: lines,
    width: W,
    height: H,
    redundant: true,
  };
}

/** Median latency against sparsity for the model's first latency setting. */
export function latencyChart(result: Result, id: string): ChartSpec | null {
  const key = latencyKeys(result)[0];
  if (!key) return null;
  const dense = denseRun(result);
  const denseL = dense && latencyFor(dense, key);
  const lines: SeriesSpec[] = [];
  for (const g of methodGroups(result)) {
    const points = g.runs.flatMap((r) => {
      const l = latencyFor(r, key);
      return l ? [{ x: r.sparsity, y: l.p50 }] : [];
    });
    if (!points.length) continue;
    if (denseL && !g.finetuned) points.unshift({ x: 0, y: denseL.p50 });
    if (g.finetuned) continue; // fine-tuning keeps the mask, so the latency is the pruned model's
    lines.push(series(g.label, points));
  }
  if (!lines.length) return null;
  return {
    id,
    title: `${chartLabel(result.model)}: median latency vs sparsity (${key})`,
    kind: "line",
    x: { label: "sparsity", scale: "linear", percent: true },
    y: { label: "p50 latency (ms)", scale: "linear" },
    series: lines,
    width: W,
    height: H,
    redundant: true,
  };
}

/** Perplexity against median latency for every run; the Pareto front drawn as a line. */
export function paretoChart(result: Result, id: string): ChartSpec | null {
  const key = latencyKeys(result)[0];
  if (!key) return null;
  const points = result.runs.flatMap((r) => {
    const l = latencyFor(r, key);
    return l && r.perplexity && !r.error ? [{ run: r, x: l.p50, y: r.perplexity.token }] : [];
  });
  if (points.length < 2) return null;
  const byMethod = new Map<string, { x: number; y: number }[]>();
  for (const p of points) {
    const label = `${methodLabel(p.run)}${p.run.finetuned ? " + fine-tune" : ""}`;
    if (!byMethod.has(label)) byMethod.set(label, []);
    byMethod.get(label)!.push({ x: p.x, y: p.y });
  }
  const front = paretoFront(points).map((p) => ({ x: p.x, y: p.y }));
  return {
    id,
    title: `${chartLabel(result.model)}: perplexity vs latency (${key})`,
    kind: "scatter",
    x: { label: "p50 latency (ms)", scale: "linear" },
    y: { label: "token perplexity", scale: "log" },
    series: [series("Pareto front", front, { connect: true }), ...[...byMethod].map(([name, pts]) => series(name, pts))],
    width: W,
    height: H,
    caption: "The dashed line joins the Pareto front: runs that no other run beats on both perplexity and latency.",
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
  for (const r of results) {
    const a = r.analysis;
    if (!a?.perLayer.length || !a.cutoffs.length) continue;
    cutoff ??= a.cutoffs[0];
    const parts = [...new Set(a.perLayer.map((l) => l.part))];
    for (const part of parts) {
      const layers = a.perLayer.filter((l) => l.part === part).sort((x, y) => x.layer - y.layer);
      const name = parts.length > 1 || part !== "shared" ? `${r.model} ${part}` : r.model;
      lines.push(series(name, layers.map((l) => ({ x: l.layer, y: l.belowCutoff[0] })), part === "decoder" && parts.length > 1 ? { dashed: true } : {}));
    }
  }
  if (!lines.length) return null;
  return {
    id,
    title: `Per layer: fraction with |w| < ${cutoff}`,
    kind: "line",
    x: { label: "layer", scale: "linear" },
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
