import type { ChartSpec } from "../types.ts";
import { table } from "../markdown.ts";
import { escapeText } from "../escape.ts";
import { fmtNumber, fmtPercent } from "../format.ts";

/** A chart's data as a table: x in the first column, one column per series. */
export function chartTable(spec: ChartSpec): string {
  const xs = [...new Set(spec.series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const fx = (x: number) => (spec.x.categories ? escapeText(spec.x.categories[x] ?? String(x)) : spec.x.percent ? fmtPercent(x) : fmtNumber(x, 3));
  const fy = (y: number | undefined) => (y === undefined ? "" : spec.y.percent ? fmtPercent(y, 1) : fmtNumber(y));
  const rows = xs.map((x) => [fx(x), ...spec.series.map((s) => fy(s.points.find((p) => p.x === x)?.y))]);
  return table([escapeText(spec.x.label), ...spec.series.map((s) => escapeText(s.name))], rows, ["l", ...spec.series.map(() => "r" as const)]);
}
