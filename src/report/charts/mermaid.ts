import type { ChartSpec } from "../types.ts";
import { PALETTE, PALETTE_EMOJI } from "./palette.ts";
import { chartLabel } from "../escape.ts";
import { fmtNumber, round } from "../format.ts";

/**
 * A Mermaid xychart, or null where xychart cannot draw the chart (scatter plots, series
 * that do not share their x values). xychart has no log axis, so log axes plot log10 y,
 * and no legend, so the legend is a line of colored squares under it.
 */
export function mermaidChart(spec: ChartSpec): string | null {
  if (spec.kind === "scatter" || !spec.series.length) return null;
  const xs = spec.series[0].points.map((p) => p.x);
  if (!xs.length || spec.series.some((s) => s.points.length !== xs.length || s.points.some((p, i) => p.x !== xs[i]))) return null;
  const shown = spec.series.slice(0, PALETTE_EMOJI.length);
  const q = (s: string) => `"${chartLabel(s).replace(/"/g, "'")}"`;
  const fx = (x: number) => (spec.x.categories ? spec.x.categories[x] ?? String(x) : spec.x.percent ? `${round(x * 100, 3)}%` : fmtNumber(x, 3));
  const log = spec.y.scale === "log";
  // Mermaid's parser reads no exponents: fixed decimals only.
  const fy = (y: number) => String(Number(round(log ? Math.log10(y) : spec.y.percent ? y * 100 : y, 4).toFixed(4)));
  const ylabel = log ? `log10 ${spec.y.label}` : spec.y.percent ? `${spec.y.label} (%)` : spec.y.label;
  const mark = spec.kind === "bar" ? "bar" : "line";
  const lines = [
    "```mermaid",
    `%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "${shown.map((_, i) => PALETTE[i]).join(", ")}"}}}}%%`,
    "xychart-beta",
    `  title ${q(spec.title)}`,
    `  x-axis ${q(spec.x.label)} [${xs.map((x) => q(fx(x))).join(", ")}]`,
    `  y-axis ${q(ylabel)}`,
    ...shown.map((s) => `  ${mark} [${s.points.map((p) => fy(p.y)).join(", ")}]`),
    "```",
  ];
  return lines.join("\n");
}

/** The legend of a Mermaid chart, plain text (names were made safe by chartLabel and are escaped by the caller). */
export function mermaidLegend(spec: ChartSpec): { emoji: string; name: string }[] {
  return spec.series.slice(0, PALETTE_EMOJI.length).map((s, i) => ({ emoji: PALETTE_EMOJI[i], name: s.name }));
}
