import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { readResultFile, renderReport, GITHUB_COMMENT_LIMIT } from "../src/report/index.ts";
import type { Result } from "../src/results/schema.ts";

const FIXTURES = path.resolve(import.meta.dirname, "fixtures/results");

/** Many models, each a renamed copy of a fixture, with many runs: far past a comment's size. */
function huge(count: number, prefix: string, dir = ""): Result[] {
  const names = ["bert-base-uncased", "gpt2", "pegasus-large"];
  return Array.from({ length: count }, (_, i) => {
    const r = readResultFile(path.join(FIXTURES, dir, `${names[i % 3]}.json`));
    return { ...r, model: `${prefix}${String(i).padStart(3, "0")}-${r.model}` };
  });
}

test("a huge result set stays under GitHub's comment limit: sections folded, then dropped with a pointer", () => {
  const head = huge(24, "m");
  const base = huge(24, "m", "base");
  const report = renderReport({
    results: head,
    base,
    options: { charts: "quickchart", artifactUrl: "https://github.com/o/r/actions/runs/1", thresholds: { latency: { resamples: 100 } } },
  });
  assert.ok(report.fullMarkdown.length > 3 * GITHUB_COMMENT_LIMIT, `full report ${report.fullMarkdown.length}`);
  assert.ok(report.markdown.length <= GITHUB_COMMENT_LIMIT, `comment ${report.markdown.length}`);
  assert.ok(report.dropped.length > 0);
  // The least important go first: details and per-layer before any model section.
  assert.ok(report.dropped.includes("details"));
  assert.ok(report.dropped.includes("per-layer"));
  assert.ok(!report.dropped.includes("comparisons"));
  assert.ok(!report.dropped.includes("model-0"));
  assert.match(report.markdown, /Left out to stay within GitHub's comment size: [^\n]*Details; see the \[full report\]\(https:\/\/github\.com\/o\/r\/actions\/runs\/1\)/);
  // The verdict and the regressions table survive.
  assert.match(report.markdown, /^<!-- prunebench-report:default\.[0-9a-f]{12} -->\n## prunebench report\n\n🔴 \*\*regression\*\*/);
  assert.match(report.markdown, /### Against base/);
});

test("a long report that fits folds its least important sections", () => {
  const head = huge(3, "m");
  const base = huge(3, "m", "base");
  const report = renderReport({ results: head, base, options: { charts: "quickchart", maxChars: 100_000, thresholds: { latency: { resamples: 100 } } } });
  assert.ok(report.markdown.length <= 100_000);
  assert.deepEqual(report.dropped, []);
  assert.ok(report.folded.includes("details") && report.folded.includes("per-layer"));
  assert.match(report.markdown, /### Per layer\n\n<details><summary>Show per layer<\/summary>/);
});

test("a small maxChars still keeps the verdict", () => {
  const report = renderReport({ results: huge(3, "m"), base: huge(3, "m", "base"), options: { charts: "none", maxChars: 6_000, thresholds: { latency: { resamples: 100 } } } });
  assert.match(report.markdown, /🔴 \*\*regression\*\*/);
  assert.ok(report.dropped.length >= 5);
  assert.ok(report.markdown.length <= 6_000, `${report.markdown.length}`);
  assert.match(report.markdown, /more in the full report/);
});

test("one model with 500 runs degrades row by row (dense, each method's best, the worst) instead of losing its section", () => {
  const base = readResultFile(path.join(FIXTURES, "gpt2.json"));
  const template = base.runs.find((r) => r.method !== "dense" && r.perplexity)!;
  const dense = base.runs.find((r) => r.method === "dense")!;
  const methods = ["magnitude", "global", "random", "wanda", "sparsegpt"];
  const runs = [dense];
  for (let i = 0; i < 499; i++) {
    const method = methods[i % methods.length];
    const sparsity = Number((0.05 + (i / 499) * 0.9).toFixed(4));
    const token = 20 + i * 0.5 + (method === "random" ? 100 : 0);
    runs.push({ ...template, id: `${method}@${sparsity}`, method, sparsity, achievedSparsity: sparsity, perplexity: { ...template.perplexity!, token, word: token * 1.3 } });
  }
  const result: Result = { ...base, model: "big", runs };
  // A limit the whole table does not fit (a GHES server's, or a model with latency and fine-tuned rows too).
  const report = renderReport({ results: [result], options: { charts: "none", maxChars: 12_000, thresholds: { latency: { resamples: 100 } } } });
  assert.ok(report.markdown.length <= 12_000, `${report.markdown.length}`);
  assert.ok(!report.dropped.includes("model-0"), `dropped: ${report.dropped.join(", ")}`);
  assert.match(report.markdown, /### Model: big/);
  const shown = /_(\d+) of 500 runs shown to fit a comment: dense, the (?:\d+ best runs|best run) of each method and the worst; every run is in the full report\._/.exec(report.markdown);
  assert.ok(shown, report.markdown.slice(0, 2000));
  assert.ok(Number(shown[1]) >= methods.length + 2 && Number(shown[1]) < 500);
  // Dense, each method's best (the lowest sparsity here) and the worst run (random's last) are all in it.
  assert.match(report.markdown, /\| dense/);
  for (const m of methods) assert.ok(report.markdown.includes(m), m);
  const worst = runs.reduce((a, b) => (b.perplexity!.token > a.perplexity!.token ? b : a));
  assert.ok(report.markdown.includes(worst.perplexity!.token.toFixed(1)) || report.markdown.includes(String(worst.perplexity!.token)), `worst ${worst.perplexity!.token}`);
  assert.ok(report.fullMarkdown.includes("### Model: big") && report.fullMarkdown.length > report.markdown.length);
});
