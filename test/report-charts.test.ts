import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import vm from "node:vm";
import { readResultFile, renderReport, writeReportFiles, quickchartUrl, chartJsConfig } from "../src/report/index.ts";
import type { ChartSpec } from "../src/report/index.ts";
import { mermaidChart } from "../src/report/charts/mermaid.ts";

const FIXTURES = path.resolve(import.meta.dirname, "fixtures/results");

/** Width and height from a PNG's IHDR chunk, after checking the signature. */
function pngSize(bytes: Uint8Array): { width: number; height: number } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  assert.deepEqual([...bytes.subarray(0, 8)], sig, "PNG signature");
  assert.equal(Buffer.from(bytes.subarray(12, 16)).toString("ascii"), "IHDR");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

const spec: ChartSpec = {
  id: "t",
  title: "gpt2: perplexity vs sparsity",
  kind: "line",
  x: { label: "sparsity", scale: "linear", percent: true },
  y: { label: "token perplexity", scale: "log" },
  series: [
    { name: "magnitude", points: [{ x: 0, y: 29.9 }, { x: 0.5, y: 40.4 }] },
    { name: "magnitude + fine-tune", points: [{ x: 0, y: 29.9 }, { x: 0.5, y: 33.5 }], dashed: true },
  ],
  width: 640,
  height: 360,
};

test("quickchart URLs are built offline and decode to the intended Chart.js config", () => {
  const url = new URL(quickchartUrl(spec));
  assert.equal(url.origin + url.pathname, "https://quickchart.io/chart");
  assert.equal(url.searchParams.get("w"), "640");
  assert.equal(url.searchParams.get("h"), "360");
  assert.equal(url.searchParams.get("v"), "4");
  // quickchart-js serializes with javascript-stringify (a JS literal, not JSON): evaluate it in an empty context.
  const decoded = vm.runInNewContext(`(${url.searchParams.get("c")})`, Object.create(null)) as Record<string, unknown>;
  assert.deepEqual(JSON.parse(JSON.stringify(decoded)), JSON.parse(JSON.stringify(chartJsConfig(spec))));
  const config = JSON.parse(JSON.stringify(decoded)) as { type: string; data: { datasets: { label: string; data: number[][]; borderDash?: number[] }[] }; options: { scales: { y: { type: string } } } };
  assert.equal(config.type, "line");
  assert.deepEqual(config.data.datasets.map((d) => d.label), ["magnitude", "magnitude + fine-tune"]);
  assert.deepEqual(config.data.datasets[0].data, [[0, 29.9], [0.5, 40.4]]);
  assert.deepEqual(config.data.datasets[1].borderDash, [6, 4]);
  assert.equal(config.options.scales.y.type, "logarithmic");
});

test("mermaid xychart: log axis as log10, no exponents, null where xychart cannot draw", () => {
  const m = mermaidChart(spec)!;
  assert.match(m, /^```mermaid\n/);
  assert.match(m, /x-axis "sparsity" \["0%", "50%"\]/);
  assert.match(m, /line \[1\.476, 1\.606\]/);
  assert.equal(mermaidChart({ ...spec, kind: "scatter" }), null);
  assert.equal(mermaidChart({ ...spec, series: [spec.series[0], { name: "x", points: [{ x: 0.3, y: 1 }, { x: 0.5, y: 2 }] }] }), null);
  assert.doesNotMatch(mermaidChart({ ...spec, series: [{ name: "tiny", points: [{ x: 0, y: 1e-9 }, { x: 1, y: 2e-7 }] }], y: { label: "f", scale: "linear" } })!, /e-/);
});

test("chart files are written as SVG and PNG and read back as images of the expected size", { timeout: 120_000 }, async () => {
  const names = ["bert-base-uncased", "gpt2", "pegasus-large"];
  const head = names.map((n) => readResultFile(path.join(FIXTURES, `${n}.json`)));
  const report = renderReport({ results: head, options: { charts: "local" } });
  const dir = mkdtempSync(path.join(os.tmpdir(), "report-charts-"));
  try {
    // Three charts of different kinds keep the test fast; the CLI test writes them all.
    const kinds = ["line", "step", "scatter", "bar"] as const;
    const picked = kinds.map((k) => report.charts.find((c) => c.kind === k)!).filter(Boolean);
    assert.equal(picked.length, 4);
    const files = await writeReportFiles(dir, { ...report, charts: picked }, { scale: 2 });
    assert.equal(files.charts.length, 4);
    for (const c of files.charts) {
      const svg = readFileSync(c.svg, "utf8");
      assert.match(svg, /^<svg[^>]*width="(\d+)" height="(\d+)"/);
      const [, w, h] = /^<svg[^>]*width="(\d+)" height="(\d+)"/.exec(svg)!;
      const spec = picked.find((p) => p.id === c.id)!;
      assert.ok(Number(w) >= spec.width && Number(h) >= spec.height, `${c.id}: svg ${w}x${h}`);
      assert.ok(svg.includes(spec.title.replace(/&/g, "&amp;").replace(/</g, "&lt;")), `${c.id}: title in the SVG`);
      const png = readFileSync(c.png!);
      assert.ok(png.byteLength > 10_000, `${c.id}: ${png.byteLength} bytes`);
      assert.deepEqual(pngSize(png), { width: Number(w) * 2, height: Number(h) * 2 });
    }
    assert.equal(readFileSync(files.markdown, "utf8"), report.markdown);
    assert.equal(JSON.parse(readFileSync(files.verdict, "utf8")).state, "no-base");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("axes fit the data: linear for perplexities 7 to 17, log only where they span decades", async () => {
  const { fitAxis } = await import("../src/report/charts/build.ts");
  const narrow = fitAxis("token perplexity", [7.52, 8.1, 16.7], { logRatio: 8 });
  assert.equal(narrow.scale, "linear");
  assert.ok(narrow.domain![0] >= 6.5 && narrow.domain![0] < 7.52 && narrow.domain![1] > 16.7 && narrow.domain![1] <= 17.8, String(narrow.domain));
  const wide = fitAxis("token perplexity", [29.9, 4790], { logRatio: 8 });
  assert.equal(wide.scale, "log");
  assert.ok(wide.domain![0] > 20 && wide.domain![1] < 7000, String(wide.domain));
  // Chart.js gets the same range, and legend lines that show the dashes.
  const config = chartJsConfig({ ...spec, y: narrow }) as { options: { scales: { y: { min: number; max: number } }; plugins: { legend: { labels: { pointStyle: string } } } } };
  assert.deepEqual([config.options.scales.y.min, config.options.scales.y.max], narrow.domain);
  assert.equal(config.options.plugins.legend.labels.pointStyle, "line");
});
