import type { Result } from "../../results/schema.ts";
import type { Curve } from "../../results/analysis.ts";
import type { ChartCollector, Section } from "../section.ts";
import { join } from "../section.ts";
import { escapeText } from "../escape.ts";
import { fmtCount, fmtPercent, fmtNumber } from "../format.ts";
import { details, table } from "../markdown.ts";
import { belowCutoffChart, chartId, linearHistogramChart, log10HistogramChart, perLayerChart } from "../charts/build.ts";

/** Fraction of a curve at cutoff c, interpolated in log c between the nearest cutoffs. */
export function curveAt(curve: Curve, c: number): number | null {
  const pts = curve.cutoffs.map((x, i) => ({ x, y: curve.fraction[i] })).filter((p) => p.x > 0).sort((a, b) => a.x - b.x);
  if (!pts.length || c < pts[0].x || c > pts[pts.length - 1].x) return null;
  for (let i = 0; i < pts.length; i++) {
    if (pts[i].x === c) return pts[i].y;
    if (pts[i].x > c) {
      const a = pts[i - 1];
      const b = pts[i];
      const t = (Math.log(c) - Math.log(a.x)) / (Math.log(b.x) - Math.log(a.x));
      return a.y + t * (b.y - a.y);
    }
  }
  return null;
}

function analyzed(results: Result[]): Result[] {
  return results.filter((r) => r.analysis);
}

export function weightsSection(results: Result[], charts: ChartCollector): Section | null {
  const rs = analyzed(results);
  if (!rs.length) return null;
  const cutoffs = rs[0].analysis!.cutoffs;
  const sameCutoffs = rs.every((r) => r.analysis!.cutoffs.join() === cutoffs.join());
  const rows = rs.map((r) => {
    const a = r.analysis!;
    const parts = Object.entries(a.params.byPart).map(([p, n]) => `${escapeText(p)} ${fmtCount(n)}`).join(", ");
    return [
      escapeText(r.model, { max: 60 }),
      fmtCount(a.params.total),
      parts,
      fmtCount(a.params.prunable),
      ...(sameCutoffs ? a.belowCutoff.map((f) => fmtPercent(f, 1)) : []),
      fmtCount(a.zeros),
    ];
  });
  const header = ["model", "parameters", "by part", "prunable", ...(sameCutoffs ? cutoffs.map((c) => `\\|w\\| < ${c}`) : []), "exact zeros"];
  const histograms = rs
    .map((r, i) => charts.add(linearHistogramChart(r, chartId(r.model, String(i), "histogram"))))
    .filter(Boolean)
    .join("\n\n");
  const body = join(
    table(header, rows, ["l", "r", "l", "r", ...(sameCutoffs ? cutoffs.map(() => "r" as const) : []), "r"]),
    charts.add(log10HistogramChart(rs, "weights-log10")),
    histograms && details("Weight histograms per model", histograms),
  );
  return { id: "weights", title: "Weights", level: 3, priority: 60, body };
}

export function smallWeightsSection(results: Result[], charts: ChartCollector): Section | null {
  const rs = analyzed(results);
  if (!rs.length) return null;
  const at = 0.1;
  const facts = rs.map((r) => {
    const raw = curveAt(r.analysis!.all.raw, at);
    const free = curveAt(r.analysis!.all.scaleFree, at);
    return { model: escapeText(r.model, { max: 60 }), raw, free };
  });
  const rawText = facts.map((f) => `${f.model} ${fmtPercent(f.raw)}`).join(", ");
  const freeText = facts.map((f) => `${f.model} ${fmtPercent(f.free)}`).join(", ");
  const sentence =
    `Raw cutoffs mostly measure weight scale: the share of weights with |w| < ${at} is ${rawText}, ` +
    `but measured in units of each matrix's own standard deviation (|w|/σ < ${at}) it is ${freeText}. ` +
    `Compare models by the scale-free curve.`;
  const tableRows = facts.map((f) => [f.model, fmtPercent(f.raw, 1), fmtPercent(f.free, 1)]);
  const body = join(
    sentence.replace(/\|/g, "\\|"),
    charts.add(belowCutoffChart(rs, "below-cutoff-raw", "raw")),
    charts.add(belowCutoffChart(rs, "below-cutoff-scale-free", "scaleFree")),
    table(["model", `\\|w\\| < ${at}`, `\\|w\\|/σ < ${at}`], tableRows, ["l", "r", "r"]),
  );
  return { id: "small-weights", title: "Small weights: raw and scale-free", level: 3, priority: 50, body };
}

export function perLayerSection(results: Result[], charts: ChartCollector): Section | null {
  const rs = results.filter((r) => r.analysis?.perLayer.length);
  if (!rs.length) return null;
  const trend = rs.flatMap((r) =>
    r.analysis!.earlierLayersSmaller.map(
      (e) => `${escapeText(r.model, { max: 60 })} ${escapeText(e.part)}: ${e.holds ? "yes" : "no"} (Spearman ${fmtNumber(e.spearman, 2)})`,
    ),
  );
  const tables = rs.map((r) => {
    const a = r.analysis!;
    const rows = a.perLayer.map((l) => [escapeText(l.part), String(l.layer), fmtCount(l.params), ...l.belowCutoff.map((f) => fmtPercent(f, 1)), fmtNumber(l.medianAbs, 3), fmtPercent(l.belowScaled, 1)]);
    return details(
      `${r.model}: per layer`,
      table(["part", "layer", "parameters", ...a.cutoffs.map((c) => `\\|w\\| < ${c}`), "median \\|w\\|", "\\|w\\|/σ < 0.1"], rows),
    );
  });
  const body = join(
    charts.add(perLayerChart(rs, "per-layer")),
    trend.length && `Earlier layers hold more small weights: ${trend.join("; ")}.`,
    ...tables,
  );
  return { id: "per-layer", title: "Per layer", level: 3, priority: 70, body };
}
