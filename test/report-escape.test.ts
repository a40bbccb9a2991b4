import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { micromark } from "micromark";
import { gfm, gfmHtml } from "micromark-extension-gfm";
import { readResultFile, renderReport, escapeText, chartJsConfig } from "../src/report/index.ts";
import type { Result } from "../src/results/schema.ts";

const FIXTURES = path.resolve(import.meta.dirname, "fixtures/results");

const HOSTILE = [
  "<img src=x onerror=alert(1)>",
  "@org/team",
  "x](javascript:alert(1))",
  "![img](https://evil.example/p.png)",
  "a|b|c",
  "line\nbreak\r\n| fake | row |",
  "`code` ``` fence",
  "<script>alert(1)</script>",
  "https://evil.example/phish",
  "www.evil.example",
  "mail@evil.example",
  "__BEGINFUNCTION__process.exit()__ENDFUNCTION__",
  "$\\unicode{x}$",
];

function toHtml(md: string): string {
  return micromark(md, { allowDangerousHtml: true, extensions: [gfm()], htmlExtensions: [gfmHtml()] });
}

/** HTML that GitHub would act on: tags we did not write, links, images, mentions. */
function assertInert(html: string, label: string): void {
  assert.doesNotMatch(html, /<img(?![^>]*src="(charts\/|https:\/\/quickchart\.io\/))/i, `${label}: injected image`);
  assert.doesNotMatch(html, /<script|<a |<iframe|<svg/i, `${label}: injected tag or link`);
  for (const tag of html.matchAll(/<([a-z]+)((?:\s+[a-z-]+(?:="[^"]*"|='[^']*'|=[^\s>]+)?)*)\s*\/?>/gi)) {
    for (const attr of tag[2].matchAll(/\s+([a-z-]+)(?:="[^"]*"|='[^']*'|=[^\s>]+)?/gi)) {
      assert.ok(!/^on/i.test(attr[1]), `${label}: injected handler ${attr[1]} on <${tag[1]}>`);
    }
  }
  assert.doesNotMatch(html, /(^|[^\w\u2060])@(org|evil)/, `${label}: live mention`);
  assert.doesNotMatch(html, /https?:\/\/evil|www\.evil|@evil/, `${label}: live URL`);
}

test("escapeText leaves nothing active in Markdown", () => {
  for (const h of HOSTILE) {
    const e = escapeText(h);
    assert.doesNotMatch(e, /\n|\r/);
    const html = toHtml(`| a | b |\n| - | - |\n| ${e} | x |\n\ntext ${e} text`);
    assertInert(html, h);
    // A pipe in the text never adds a column.
    const cells = (html.match(/<td>/g) ?? []).length;
    assert.equal(cells, 2, `${h}: ${html}`);
  }
});

test("hostile model names, run ids, options, warnings and errors are escaped in the whole report", () => {
  const head = readResultFile(path.join(FIXTURES, "gpt2.json"));
  const base = readResultFile(path.join(FIXTURES, "base", "gpt2.json"));
  const evil = (r: Result, name: string): Result => ({
    ...r,
    model: name,
    architecture: HOSTILE[0],
    runner: { ...r.runner, cpu: HOSTILE[1], gpu: HOSTILE[2] },
    warnings: HOSTILE,
    timings: { [HOSTILE[3]]: 1 },
    runs: r.runs.map((run, i) => ({
      ...run,
      id: i >= 1 && i <= HOSTILE.length ? `${HOSTILE[i - 1]}@${run.sparsity}` : run.id,
      error: i === 2 ? HOSTILE.join(" ") : undefined,
    })),
  });
  // Each hostile string also lands in run ids, warnings and errors, so a few names cover them all.
  const cases = [
    [HOSTILE[0], ["quickchart", "mermaid", "none", "local"]],
    [HOSTILE[1], ["quickchart", "mermaid"]],
    [HOSTILE[2], ["quickchart", "mermaid"]],
    [HOSTILE[5], ["none"]],
    [HOSTILE[11], ["quickchart"]],
  ] as const;
  for (const [name, modes] of cases) {
    for (const charts of modes) {
      const report = renderReport({ results: [evil(head, name)], base: [evil(base, name)], options: { charts, thresholds: { latency: { resamples: 100 } } } });
      const html = toHtml(report.markdown);
      assertInert(html, `${name} (${charts})`);
      // Every table keeps its column count.
      for (const t of html.matchAll(/<table>([\s\S]*?)<\/table>/g)) {
        const rows = [...t[1].matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => (m[1].match(/<t[hd][ >]/g) ?? []).length);
        assert.ok(rows.every((n) => n === rows[0]), `${name} (${charts}): ragged table`);
      }
      // Mermaid sources cannot be closed early.
      for (const block of report.markdown.matchAll(/```mermaid\n([\s\S]*?)```/g)) {
        assert.doesNotMatch(block[1], /`|<|>/);
      }
      for (const spec of report.charts) assert.doesNotMatch(JSON.stringify(chartJsConfig(spec)), /BEGINFUNCTION|ENDFUNCTION|<img|<script/);
    }
  }
});
