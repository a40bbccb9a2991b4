import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { readResultFile, renderReport } from "../src/report/index.ts";
import type { Result } from "../src/results/schema.ts";
import { seededRandom } from "../src/util/random.ts";

const FIXTURES = path.resolve(import.meta.dirname, "fixtures/results");

/** GPT-2's fixture with chosen latency samples for magnitude@0.1 (noise), @0.3 (20% slower) and @0.5 (five samples, ±40%). */
function withSamples(): Result {
  const result = readResultFile(path.join(FIXTURES, "gpt2.json"));
  const dense = result.runs.find((r) => r.method === "dense")!;
  const d = dense.latency[0].samplesMs;
  const random = seededRandom(7);
  const set = (id: string, samples: number[]) => {
    const l = result.runs.find((r) => r.id === id)!.latency[0];
    const sorted = [...samples].sort((a, b) => a - b);
    l.samplesMs = samples;
    l.p50 = sorted[sorted.length >> 1];
  };
  // Same distribution as dense, one sample 60% slower: the raw p50 differs, the test says no change.
  set("magnitude@0.1", d.map((v, i) => (i === 0 ? v * 1.6 : v * (0.995 + 0.01 * random()))));
  set("magnitude@0.3", d.map((v) => v * 1.2));
  set("magnitude@0.5", [0.6, 1.4, 1.0, 0.7, 1.3].map((f) => f * d[0]));
  return result;
}

function row(markdown: string, label: string, sparsity: string): string[] {
  const line = markdown.split("\n").find((l) => l.startsWith(`| ${label} | ${sparsity} |`) && l.includes("MiB"));
  assert.ok(line, `no latency row for ${label} ${sparsity}`);
  return line.split("|").map((c) => c.trim());
}

test("vs dense latency: a change only where significant and beyond the threshold, ≈ and ? otherwise", () => {
  const { markdown } = renderReport({ results: [withSamples()], options: { charts: "none" } });
  const vs = (s: string) => row(markdown, "magnitude", s).at(-2);
  assert.equal(vs("10%"), "≈");
  assert.equal(vs("30%"), "+20.0%");
  assert.equal(vs("50%"), "?");
  // The note under the table counts verdicts; it never quotes a raw range of differences.
  const note = markdown.split("\n").find((l) => l.startsWith("> Unstructured pruning"))!;
  // magnitude@0.3 and the fixture's five wanda runs (12% slower than dense).
  assert.match(note, /6 slower/);
  assert.match(note, /1 too noisy to say/);
  assert.doesNotMatch(note, / to [+−]/);
});

test("vs dense latency follows the configured threshold", () => {
  const { markdown } = renderReport({ results: [withSamples()], options: { charts: "none", thresholds: { latency: { relative: 0.25 } } } });
  assert.equal(row(markdown, "magnitude", "30%").at(-2), "≈");
  assert.match(markdown, /beyond 25\.0%/);
});
