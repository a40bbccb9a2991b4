import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { micromark } from "micromark";
import { gfm, gfmHtml } from "micromark-extension-gfm";
import { readResultFile, renderReport, findReportMarker, reportMarker, type ChartMode } from "../src/report/index.ts";
import type { Result } from "../src/results/schema.ts";

const FIXTURES = path.resolve(import.meta.dirname, "fixtures/results");
const GOLDEN = path.resolve(import.meta.dirname, "fixtures/report");
const MODELS = ["bert-base-uncased", "gpt2", "pegasus-large"];

export function loadFixtures(): { head: Result[]; base: Result[] } {
  return {
    head: MODELS.map((m) => readResultFile(path.join(FIXTURES, `${m}.json`))),
    base: MODELS.map((m) => readResultFile(path.join(FIXTURES, "base", `${m}.json`))),
  };
}

function toHtml(md: string): string {
  return micromark(md, { allowDangerousHtml: true, extensions: [gfm()], htmlExtensions: [gfmHtml()] });
}

for (const charts of ["local", "mermaid"] as ChartMode[]) {
  test(`golden Markdown of the fixture report (charts: ${charts})`, () => {
    const { head, base } = loadFixtures();
    const { markdown } = renderReport({ results: head, base, options: { charts, id: "golden" } });
    const file = path.join(GOLDEN, `fixtures-${charts}.md`);
    // UPDATE_GOLDEN=1 rewrites the golden files; review the diff before committing it.
    if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, markdown);
    assert.equal(markdown, readFileSync(file, "utf8"));
  });
}

test("the fixture report has the expected verdicts", () => {
  const { head, base } = loadFixtures();
  const { verdict } = renderReport({ results: head, base });
  assert.equal(verdict.state, "regression");
  const regressions = verdict.comparisons.filter((c) => c.state === "regression");
  // GPT-2's wanda runs are 12% slower at both latency settings; BERT magnitude@0.5 lost 3%.
  assert.deepEqual(
    regressions.map((c) => `${c.model} ${c.runId} ${c.metric}`).sort(),
    [
      "bert-base-uncased magnitude@0.5 perplexity",
      ...["0.1", "0.3", "0.5", "0.7", "0.9"].flatMap((s) => [`gpt2 wanda@${s} latency`, `gpt2 wanda@${s} latency`]),
    ].sort(),
  );
  assert.deepEqual(verdict.comparisons.filter((c) => c.state === "improvement").map((c) => c.runId), ["structured@0.3"]);
  // Pegasus ran on another runner: its latencies are flagged, never compared; perplexity still is.
  const pegasus = verdict.comparisons.filter((c) => c.model === "pegasus-large");
  assert.ok(pegasus.filter((c) => c.metric === "latency").every((c) => c.state === "not-comparable"));
  assert.ok(pegasus.filter((c) => c.metric === "perplexity").every((c) => c.state === "no-change"));
  assert.deepEqual(verdict.added, [{ model: "gpt2", runId: "nm:2:4@0.5" }]);
});

test("rendered with micromark + GFM: marker, headings, tables with the right column counts, details", () => {
  const { head, base } = loadFixtures();
  const { markdown } = renderReport({ results: head, base, options: { charts: "quickchart", id: "pr-42" } });
  assert.match(findReportMarker(markdown) ?? "", /^pr-42\.[0-9a-f]{12}$/);
  assert.ok(markdown.startsWith(reportMarker("pr-42")));
  const html = toHtml(markdown);
  const headings = [...html.matchAll(/<h([23])>(.*?)<\/h\1>/g)].map((m) => `${m[1]} ${m[2]}`);
  assert.deepEqual(headings, [
    "2 prunebench report",
    "3 Against base",
    "3 Model: bert-base-uncased",
    "3 Model: gpt2",
    "3 Model: pegasus-large",
    "3 Weights",
    "3 Small weights: raw and scale-free",
    "3 Per layer",
    "3 Sensitivity",
    "3 Perplexity vs latency",
    "3 Details",
  ]);
  const tables = [...html.matchAll(/<table>([\s\S]*?)<\/table>/g)].map((m) => m[1]);
  assert.ok(tables.length >= 10);
  for (const t of tables) {
    const rows = [...t.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => (m[1].match(/<t[hd][ >]/g) ?? []).length);
    assert.ok(rows.length >= 2);
    assert.ok(rows.every((n) => n === rows[0]), `ragged table: ${rows.join(",")}`);
  }
  const comparisons = tables.find((t) => t.includes(">verdict</th>"))!;
  assert.equal((comparisons.match(/<th[ >]/g) ?? []).length, 9);
  const perplexity = tables.find((t) => t.includes(">fine-tuned</th>"))!;
  assert.equal((perplexity.match(/<th[ >]/g) ?? []).length, 7);
  assert.ok((html.match(/<details>/g) ?? []).length >= 5);
  assert.equal((html.match(/<details>/g) ?? []).length, (html.match(/<\/details>/g) ?? []).length);
  assert.ok((html.match(/<img src="https:\/\/quickchart\.io\/chart\?/g) ?? []).length >= 10);
  assert.match(html, /Raw cutoffs mostly measure weight scale/);
});

test("without a base the report says so", () => {
  const { head } = loadFixtures();
  const { markdown, verdict } = renderReport({ results: head });
  assert.equal(verdict.state, "no-base");
  assert.equal(verdict.hasBase, false);
  assert.match(markdown, /no base results to compare with/);
  assert.match(markdown, /No base results were found/);
});

test("charts: none leaves out charts whose data is in a table and turns the rest into tables", () => {
  const { head, base } = loadFixtures();
  const { markdown } = renderReport({ results: head, base, options: { charts: "none" } });
  assert.doesNotMatch(markdown, /!\[/);
  assert.doesNotMatch(markdown, /```mermaid/);
  assert.match(markdown, /Fraction of weights with \|w\| &lt; c \(table\)/);
});
