import type { Result } from "../../results/schema.ts";
import { chartLabel } from "../escape.ts";
import { budgetKey, searchName } from "../reach.ts";
import type { ChartSpec, SeriesSpec } from "../types.ts";
import { H, W, fitAxis, methodColors, series } from "./build.ts";

/**
 * Perplexity against sparsity for every budget search, through all its measured points (the
 * sweep's and the search's), with the budget as a dashed level and the found points marked.
 */
export function budgetChart(result: Result, id: string): ChartSpec | null {
  const b = result.budget;
  if (!b?.searches.some((s) => !s.error)) return null;
  const searches = b.searches.filter((x) => !x.error);
  // Up to a little past the highest bracket: the sweep's far points would squash the budget band.
  const right = Math.min(0.99, Math.max(...searches.map((s) => s.beyond?.sparsity ?? s.within.sparsity)) + 0.1);
  const colors = methodColors(result);
  const lines: SeriesSpec[] = [];
  const found: { x: number; y: number }[] = [];
  for (const s of searches) {
    const runs = result.runs
      .filter((r) => !r.error && r.perplexity && r.finetuned === s.finetuned && r.id.startsWith(`${s.label}@`) && r.sparsity <= right + 1e-9)
      .sort((x, y) => x.sparsity - y.sparsity);
    const points = [{ x: 0, y: b.dense }, ...runs.map((r) => ({ x: r.sparsity, y: r.perplexity!.token }))];
    lines.push(series(searchName(s), points, { color: colors.of(s.label), ...(s.finetuned ? { dashed: true } : {}) }));
    const within = runs.find((r) => r.id === s.within.run);
    found.push({ x: s.within.sparsity, y: within?.perplexity?.token ?? b.dense });
  }
  const limit = b.dense * (1 + b.maxIncrease);
  // The budget is a level over dense: drawn in dense's gray, as are the found points.
  const all = [...lines, series(`budget ${budgetKey(b)}`, [{ x: 0, y: limit }, { x: right, y: limit }], { dashed: true, color: -1 }), series("found (within the budget)", found, { markers: true, color: -1 })];
  return {
    id,
    title: `${chartLabel(result.model)}: perplexity vs sparsity, budget ${chartLabel(budgetKey(b))}`,
    kind: "line",
    x: fitAxis("sparsity", all.flatMap((l) => l.points.map((p) => p.x)), { percent: true }),
    y: fitAxis("token perplexity", all.flatMap((l) => l.points.map((p) => p.y)), { logRatio: 8 }),
    series: all,
    width: W,
    height: H,
    caption: "Every point the search measured lies on its method's line; the diamonds are the highest sparsities within the budget.",
  };
}
