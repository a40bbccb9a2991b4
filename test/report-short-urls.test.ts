/**
 * Chart URLs through quickchart's short-URL API (getShortUrl) against a local server that
 * answers as quickchart does, and the long URLs as the fallback; the images load in Chromium.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import vm from "node:vm";
import { micromark } from "micromark";
import { gfm, gfmHtml } from "micromark-extension-gfm";
import { readResultFile } from "../src/report/index.ts";
import { svgToPng } from "../src/report/charts/vega.ts";
import { renderPrReportWithShortUrls } from "../src/github/report.ts";
import { launchChromium, skipWithoutChromium } from "./helpers/chromium.ts";

const FIXTURES = path.resolve(import.meta.dirname, "fixtures/results");

/** POST /chart/create -> {success, url}; GET /chart/render/<id> and GET /chart?c= -> a PNG, as quickchart.io answers. */
async function fakeQuickchart(mode: "ok" | "fail") {
  const created: { chart: string; width: number; height: number; version: string }[] = [];
  const png = svgToPng(`<svg xmlns="http://www.w3.org/2000/svg" width="64" height="36"><rect width="64" height="36" fill="#1f77b4"/></svg>`, 1);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, "http://x");
    if (req.method === "POST" && url.pathname === "/chart/create") {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        if (mode === "fail") {
          res.writeHead(500, { "x-quickchart-error": "chart too complex" }).end();
          return;
        }
        created.push(JSON.parse(body));
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ success: true, url: `${base}/chart/render/zm-${created.length}` }));
      });
      return;
    }
    if (req.method === "GET" && (url.pathname.startsWith("/chart/render/") || url.pathname === "/chart")) {
      res.writeHead(200, { "content-type": "image/png" }).end(png);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, created, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const input = () => ({ results: [readResultFile(path.join(FIXTURES, "gpt2.json"))], id: "short", charts: "quickchart" as const });
const imageUrls = (md: string) => [...md.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);

test("short URLs where quickchart answers: each chart posted once with its Chart.js config, the comment far shorter", async () => {
  const qc = await fakeQuickchart("ok");
  try {
    const long = await renderPrReportWithShortUrls(input(), { enabled: false });
    const short = await renderPrReportWithShortUrls(input(), { baseUrl: qc.base, timeoutMs: 5000 });
    const urls = imageUrls(short.markdown);
    assert.equal(urls.length, long.stage.charts.length);
    assert.ok(urls.every((u) => u.startsWith(`${qc.base}/chart/render/zm-`)), urls.join("\n"));
    assert.equal(qc.created.length, long.stage.charts.length);
    assert.equal(short.note, undefined);
    // What was posted is the chart itself: the Chart.js config of the long URL.
    const posted = vm.runInNewContext(`(${qc.created[0].chart})`, Object.create(null)) as { data: { datasets: unknown[] } };
    assert.ok(posted.data.datasets.length > 0);
    assert.equal(qc.created[0].version, "4");
    const saved = long.markdown.length - short.markdown.length;
    assert.ok(saved > 5000, `short URLs save ${saved} characters`);
  } finally {
    await qc.close();
  }
});

test("long URLs stay where quickchart refuses or cannot be reached, and the note says why", async () => {
  const qc = await fakeQuickchart("fail");
  try {
    const refused = await renderPrReportWithShortUrls(input(), { baseUrl: qc.base, timeoutMs: 5000 });
    assert.ok(imageUrls(refused.markdown).every((u) => u.startsWith("https://quickchart.io/chart?")));
    assert.match(refused.note!, /keep their long quickchart URL \(Chart shorturl creation failed with status code 500\nchart too complex\)/);
  } finally {
    await qc.close();
  }
  const unreachable = await renderPrReportWithShortUrls(input(), { baseUrl: "http://127.0.0.1:9", timeoutMs: 2000 });
  assert.ok(imageUrls(unreachable.markdown).every((u) => u.startsWith("https://quickchart.io/chart?")));
  assert.ok(unreachable.note);
});

test("both forms load as images in headless Chromium", { skip: skipWithoutChromium(), timeout: 120_000 }, async () => {
  const qc = await fakeQuickchart("ok");
  const chromium = await launchChromium();
  try {
    const short = await renderPrReportWithShortUrls(input(), { baseUrl: qc.base, timeoutMs: 5000 });
    const long = await renderPrReportWithShortUrls(input(), { enabled: false });
    const page = await chromium.context.newPage();
    // quickchart.io is the local server here; nothing else leaves the machine.
    await page.route(/.*/, async (route) => {
      const url = route.request().url();
      if (url.startsWith(qc.base)) return route.continue();
      if (url.startsWith("https://quickchart.io/")) {
        const answer = await fetch(url.replace("https://quickchart.io", qc.base));
        return route.fulfill({ status: answer.status, contentType: answer.headers.get("content-type") ?? "", body: Buffer.from(await answer.arrayBuffer()) });
      }
      return url.startsWith("data:") || url.startsWith("about:") ? route.continue() : route.abort();
    });
    for (const md of [short.markdown, long.markdown]) {
      const html = micromark(md, { allowDangerousHtml: false, extensions: [gfm()], htmlExtensions: [gfmHtml()] });
      await page.setContent(`<!doctype html><html><body>${html}</body></html>`, { waitUntil: "load" });
      const sizes = (await page.evaluate(`[...document.images].map((i) => i.naturalWidth)`)) as number[];
      assert.equal(sizes.length, long.stage.charts.length);
      assert.ok(sizes.every((w) => w === 64), `image widths: ${sizes.join(", ")}`);
    }
  } finally {
    await chromium.close();
    await qc.close();
  }
});
