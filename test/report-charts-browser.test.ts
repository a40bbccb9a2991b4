/**
 * The charts as a reader sees them: each SVG rendered by headless Chromium, its screenshot
 * checked for the methods' colors, its DOM for legend order, dashes, clipping and the axis.
 * Screenshots are kept under out/chart-screenshots for a person to look at.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Page } from "playwright-core";
import { readResultFile, renderReport, writeReportFiles, type ChartSpec } from "../src/report/index.ts";
import { color } from "../src/report/charts/palette.ts";
import { countPixels, launchChromium, skipWithoutChromium } from "./helpers/chromium.ts";

const FIXTURES = path.resolve(import.meta.dirname, "fixtures/results");
const SHOTS = path.resolve(import.meta.dirname, "../out/chart-screenshots");
const skip = skipWithoutChromium();

interface Seen {
  legend: { text: string; right: number }[];
  width: number;
  lines: { series: string; stroke: string; dash: string }[];
  points: { series: string; fill: string; stroke: string }[];
  yTicks: number[];
}

// In-page code as text: the project compiles without DOM types, and tsx's keepNames would
// wrap functions in a helper the page lacks.
const LOOK = `(() => {
  const root = document.querySelector("svg");
  const series = (el) => /series: ([^;]*)/.exec(el.getAttribute("aria-label") || "")?.[1] ?? "";
  const legend = [...document.querySelectorAll(".role-legend-label text")]
    .map((t) => ({ text: t.textContent || "", y: t.getBoundingClientRect().y, right: t.getBoundingClientRect().right }))
    .sort((a, b) => a.y - b.y)
    .map(({ text, right }) => ({ text, right }));
  const lines = [...document.querySelectorAll('.role-mark path[aria-roledescription="line mark"]')].map((p) => ({
    series: series(p), stroke: p.getAttribute("stroke") || "", dash: p.getAttribute("stroke-dasharray") || "",
  }));
  const points = [...document.querySelectorAll('.role-mark path[aria-roledescription="point"]')].map((p) => ({
    series: series(p), fill: p.getAttribute("fill") || "", stroke: p.getAttribute("stroke") || "",
  }));
  // The y axis is the one whose (right-aligned) labels share their right edge.
  const axes = [...document.querySelectorAll(".role-axis")].map((a) => [...a.querySelectorAll(".role-axis-label text")]);
  const yAxis = axes.find((ls) => ls.length > 1 && new Set(ls.map((l) => Math.round(l.getBoundingClientRect().right))).size === 1) || [];
  const yTicks = yAxis.map((l) => (l.textContent || "").replace(/,/g, "")).filter((t) => t !== "").map(Number).filter(Number.isFinite);
  return { legend, width: root.getBoundingClientRect().width, lines, points, yTicks };
})()`;

/** What the page shows: legend labels top to bottom, line strokes and dashes, y tick values. */
async function look(page: Page, svg: string): Promise<Seen> {
  await page.setContent(`<!doctype html><html><body style="margin:0;background:#fff">${svg}</body></html>`);
  return (await page.evaluate(LOOK)) as Seen;
}

/** The perplexity table's series in its order: each method, then its fine-tuned column where filled. */
function tableSeries(markdown: string, model: string): string[] {
  const section = markdown.slice(markdown.indexOf(`### Model: ${model}`));
  const table = section.slice(section.indexOf("| method | target |"), section.indexOf("**Latency"));
  const rows = table.split("\n").slice(2).filter((l) => l.startsWith("| ") && !l.startsWith("| dense"));
  const out: string[] = [];
  for (const row of rows) {
    const cells = row.split("|").map((c) => c.trim());
    const method = cells[1];
    if (!out.includes(method)) out.push(method);
    if (cells[6] && cells[6] !== "–" && !out.includes(`${method} + fine-tune`)) out.push(`${method} + fine-tune`);
  }
  // Fine-tuned lines follow their method, whatever row first had one.
  return out.filter((s) => !s.endsWith(" + fine-tune")).flatMap((m) => [m, ...(out.includes(`${m} + fine-tune`) ? [`${m} + fine-tune`] : [])]);
}

test("charts in headless Chromium: one color per method, fine-tuned dashed in it, legend in the table's order, axis fitted, nothing clipped", { skip, timeout: 180_000 }, async () => {
  const result = readResultFile(path.join(FIXTURES, "gpt2.json"));
  const report = renderReport({ results: [result], options: { charts: "local" } });
  const wanted = ["perplexity", "latency", "pareto"];
  const charts = report.charts.filter((c) => wanted.some((w) => c.id.endsWith(w)));
  assert.equal(charts.length, 3);
  const dir = mkdtempSync(path.join(os.tmpdir(), "charts-browser-"));
  mkdirSync(SHOTS, { recursive: true });
  const chromium = await launchChromium();
  try {
    const files = await writeReportFiles(dir, { ...report, charts }, { png: false });
    const page = await chromium.context.newPage();
    await page.route(/^(?!about:|data:)/, (route) => route.abort());
    const spec = (suffix: string) => charts.find((c) => c.id.endsWith(suffix))!;
    const svgOf = (s: ChartSpec) => readFileSync(files.charts.find((c) => c.id === s.id)!.svg, "utf8");

    // Perplexity: legend = table order; pruned and fine-tuned of a method share a color, dashed; methods differ.
    const ppl = spec("perplexity");
    const seen = await look(page, svgOf(ppl));
    const order = tableSeries(report.markdown, "gpt2");
    assert.deepEqual(seen.legend.map((l) => l.text), order);
    for (const l of seen.legend) assert.ok(l.right <= seen.width && !l.text.endsWith("…"), `legend label clipped: ${l.text}`);
    const stroke = new Map(seen.lines.map((l) => [l.series, l]));
    const methods = order.filter((s) => !s.endsWith(" + fine-tune"));
    assert.equal(new Set(methods.map((m) => stroke.get(m)!.stroke)).size, methods.length, "one color per method");
    for (const m of methods.filter((m) => stroke.has(`${m} + fine-tune`))) {
      assert.equal(stroke.get(`${m} + fine-tune`)!.stroke, stroke.get(m)!.stroke, `${m}: fine-tuned in the method's color`);
      assert.equal(stroke.get(`${m} + fine-tune`)!.dash, "6,4");
      assert.equal(stroke.get(m)!.dash, "1,0");
    }
    // The axis fits the data: ticks stay near the perplexities drawn (no 1-to-100 decades around 7-to-17 data).
    const ys = ppl.series.flatMap((s) => s.points.map((p) => p.y));
    const [lo, hi] = [Math.min(...ys), Math.max(...ys)];
    assert.ok(seen.yTicks.length >= 4, `y ticks: ${seen.yTicks.join(", ")}`);
    assert.ok(Math.min(...seen.yTicks) >= lo * 0.8 && Math.max(...seen.yTicks) <= hi * 1.25, `y ticks ${seen.yTicks.join(", ")} for data ${lo}..${hi}`);
    // The screenshot shows every method's color.
    const shot = await page.locator("svg").first().screenshot({ path: path.join(SHOTS, `${ppl.id}.png`) });
    const colors = methods.map((m) => stroke.get(m)!.stroke);
    const { counts: pixels } = await countPixels(page, shot, colors);
    pixels.forEach((n, i) => assert.ok(n > 100, `${methods[i]} (${colors[i]}): ${n} pixels in the screenshot`));

    // Latency: the same method has the same color as in the perplexity chart.
    const lat = await look(page, svgOf(spec("latency")));
    for (const l of lat.lines) assert.equal(l.stroke, stroke.get(l.series)!.stroke, `${l.series}: same color in both charts`);
    await page.locator("svg").first().screenshot({ path: path.join(SHOTS, `${spec("latency").id}.png`) });

    // Pareto: fine-tuned points hollow in their method's color; dense neutral.
    const pareto = await look(page, svgOf(spec("pareto")));
    for (const p of pareto.points) {
      const method = p.series.replace(/ \+ fine-tune$/, "");
      if (method === "dense") assert.equal(p.stroke, color(-1));
      else assert.equal(p.stroke, stroke.get(method)!.stroke, `${p.series}: method color`);
      assert.equal(p.fill === "#ffffff", p.series.endsWith(" + fine-tune"), `${p.series}: hollow only when fine-tuned`);
    }
    await page.locator("svg").first().screenshot({ path: path.join(SHOTS, `${spec("pareto").id}.png`) });
  } finally {
    await chromium.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
