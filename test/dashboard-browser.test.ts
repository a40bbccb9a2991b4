/**
 * The sample dashboard as a reader sees it: built from the synthetic store of
 * scripts/make-dashboard-sample.ts, loaded from a file in headless Chromium with every
 * request watched, screenshotted, and the screenshot and the DOM checked: charts drawn,
 * regressions ringed where they were planted, every point and table link to its commit, no
 * console errors, nothing fetched. Screenshots are kept under out/dashboard-screenshots.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { makeSampleDashboard, sampleSha, SAMPLE_REPO } from "../scripts/make-dashboard-sample.ts";
import { writeDashboard, type Dashboard } from "../src/dashboard/index.ts";
import { REGRESSION_COLOR, color } from "../src/report/charts/palette.ts";
import { countPixels, launchChromium, skipWithoutChromium } from "./helpers/chromium.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const SHOTS = path.join(ROOT, "out/dashboard-screenshots");
const skip = skipWithoutChromium();
const COMMIT_URL = new RegExp(`^https://github\\.com/${SAMPLE_REPO}/commit/([0-9a-f]{40})$`);

let tmp: string;
let dashboard: Dashboard;
let file: string;
before(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "pb-dashboard-browser-"));
  dashboard = await makeSampleDashboard(path.join(tmp, "store"));
  file = writeDashboard(path.join(tmp, "site"), dashboard);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The page without its chart drawings: what the sample says, not how Vega happens to draw it. */
const structure = (html: string) => html.replace(/<svg[\s\S]*?<\/svg>/g, "<svg/>");

test("the committed sample (reports/sample/dashboard) is what the code makes of the sample store", () => {
  const committed = readFileSync(path.join(ROOT, "reports/sample/dashboard/index.html"), "utf8");
  assert.equal(structure(committed), structure(dashboard.html), "regenerate it: node --import tsx scripts/make-dashboard-sample.ts");
  // The planted changes are the ones called, and nothing else.
  const called = dashboard.changes.map((c) => `${c.comparison.state} ${c.commit.sha === sampleSha(6) ? 6 : c.commit.sha === sampleSha(7) ? 7 : c.commit.sha === sampleSha(8) ? 8 : c.commit.sha === sampleSha(4) ? 4 : "?"} ${c.comparison.model} ${c.comparison.runId} ${c.comparison.metric}`);
  assert.ok(!called.some((c) => c.includes("?")), called.join("\n"));
  assert.equal(called.filter((c) => c.startsWith("regression 6 demo-decoder sparsegpt@0.")).length, 4, "SparseGPT 50% and 70% on both runners");
  assert.equal(called.filter((c) => c.startsWith("regression 7 demo-encoder")).length, 8, "structured and Wanda 50%, pruned and tuned, two latency settings");
  assert.equal(called.filter((c) => c.startsWith("regression")).length, 12);
});

interface Ring {
  chart: string;
  x: number;
  y: number;
  width: number;
  height: number;
  /** The x-axis label under the ring's center. */
  commit: string;
  href: string;
}

// In-page code as text: the project compiles without DOM types.
const LOOK = `(() => {
  const figures = [...document.querySelectorAll("figure[data-chart]")];
  const charts = figures.map((f) => {
    const svg = f.querySelector("svg");
    const box = svg.getBoundingClientRect();
    const labels = [...svg.querySelectorAll(".role-axis-label text")].map((t) => ({ text: t.textContent, x: t.getBoundingClientRect().x + t.getBoundingClientRect().width / 2 }));
    const links = [...svg.querySelectorAll("a")].map((a) => a.getAttribute("xlink:href") || a.getAttribute("href"));
    const rings = [...svg.querySelectorAll('path[aria-roledescription="point"]')].filter((p) => p.getAttribute("stroke") === "${REGRESSION_COLOR}").map((p) => {
      const r = p.getBoundingClientRect();
      const cx = r.x + r.width / 2;
      const near = labels.filter((l) => /^[0-9a-f]{7}$/.test(l.text)).sort((a, b) => Math.abs(a.x - cx) - Math.abs(b.x - cx))[0];
      return { chart: f.dataset.chart, x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width, height: r.height, commit: near ? near.text : "", href: p.closest("a")?.getAttribute("xlink:href") || "" };
    });
    const strokes = [...svg.querySelectorAll('path[aria-roledescription="line mark"]')].map((p) => p.getAttribute("stroke"));
    return { id: f.dataset.chart, width: box.width, height: box.height, links, rings, strokes, lines: strokes.length };
  });
  const tableLinks = [...document.querySelectorAll("table a[href]")].map((a) => a.getAttribute("href"));
  return { charts, tableLinks, svgs: document.querySelectorAll("svg").length };
})()`;

test("the sample dashboard in headless Chromium: charts drawn, regressions ringed at their commits, points and rows linked, no errors, nothing fetched", { skip, timeout: 240_000 }, async () => {
  mkdirSync(SHOTS, { recursive: true });
  const chromium = await launchChromium({ width: 1280, height: 900 });
  try {
    const page = await chromium.context.newPage();
    const url = pathToFileURL(file).href;
    const requests: string[] = [];
    const problems: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    // Anything that would leave the file is refused (and counted above).
    await page.route((u) => u.href !== url, (route) => route.abort());
    await page.goto(url, { waitUntil: "load" });
    const shot = await page.screenshot({ path: path.join(SHOTS, "index.png"), fullPage: true });

    assert.deepEqual(requests, [url], "the page fetches nothing");
    assert.deepEqual(problems, []);
    const seen = (await page.evaluate(LOOK)) as {
      charts: Array<{ id: string; width: number; height: number; links: string[]; rings: Ring[]; strokes: string[]; lines: number }>;
      tableLinks: string[];
      svgs: number;
    };
    assert.equal(seen.svgs, dashboard.charts);
    assert.equal(seen.charts.length, 24, "4 model sections on 2 runners, perplexity and latency at 3 sparsities");
    for (const c of seen.charts) {
      assert.ok(c.width > 400 && c.height > 200, `${c.id}: drawn at ${c.width}x${c.height}`);
      assert.ok(c.lines >= 5, `${c.id}: ${c.lines} lines`);
      assert.ok(c.strokes.includes(color(-1)), `${c.id}: dense drawn as the reference`);
    }

    // Every point links to its commit: each chart links to every commit its runner measured.
    const commits = new Set([1, 2, 3, 4, 5, 6, 7, 8].map(sampleSha));
    const second = new Set([5, 6, 7, 8].map(sampleSha));
    for (const c of seen.charts) {
      const linked = new Set(c.links.map((h) => COMMIT_URL.exec(h)?.[1]));
      assert.ok(!linked.has(undefined), `${c.id}: a link that is not a commit: ${c.links.find((h) => !COMMIT_URL.test(h))}`);
      assert.deepEqual([...linked].sort(), [...(c.id.startsWith("9f3e21c07ab45d18") ? second : commits)].sort(), `${c.id}: links`);
    }
    assert.ok(seen.tableLinks.length > 20 && seen.tableLinks.every((h) => COMMIT_URL.test(h)), "table links are commit links");

    // The regressions are ringed at the commit that made them, and the rings are visible in the screenshot.
    const rings = seen.charts.flatMap((c) => c.rings);
    const where = rings.map((r) => `${r.chart} ${r.commit}`).sort();
    const at = (n: number) => sampleSha(n).slice(0, 7);
    assert.deepEqual(where, [
      `9f3e21c07ab45d18-demo-decoder-500-perplexity ${at(6)}`,
      `9f3e21c07ab45d18-demo-decoder-700-perplexity ${at(6)}`,
      `c0c6dea404424ca2-demo-decoder-500-perplexity ${at(6)}`,
      `c0c6dea404424ca2-demo-decoder-700-perplexity ${at(6)}`,
      // structured and Wanda 50% at cpu b1 s64, the setting the latency charts draw.
      `c0c6dea404424ca2-demo-encoder-500-latency ${at(7)}`,
      `c0c6dea404424ca2-demo-encoder-500-latency ${at(7)}`,
    ]);
    for (const r of rings) {
      assert.equal(r.href, `https://github.com/${SAMPLE_REPO}/commit/${sampleSha(r.commit === at(6) ? 6 : 7)}`);
      const box = [Math.floor(r.x) - 2, Math.floor(r.y) - 2, Math.ceil(r.width) + 4, Math.ceil(r.height) + 4];
      const { counts } = await countPixels(page, shot, [REGRESSION_COLOR], box);
      assert.ok(counts[0] > 25, `${r.chart}: ${counts[0]} ring-red pixels where the ring is`);
    }

    // Not blank: ink over a good part of the page, and every method's color in it.
    const methods = [0, 1, 2, 3, 4, 5].map(color);
    const whole = await countPixels(page, shot, methods);
    assert.ok(whole.inked / whole.total > 0.03, `${whole.inked} of ${whole.total} pixels inked`);
    whole.counts.forEach((n, i) => assert.ok(n > 200, `${methods[i]}: ${n} pixels`));
    await page.locator("#changes").screenshot({ path: path.join(SHOTS, "changes.png") });
  } finally {
    await chromium.close();
  }
});
