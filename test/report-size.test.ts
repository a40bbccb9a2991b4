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
