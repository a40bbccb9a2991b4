import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runConfigs } from "../src/pipeline/index.ts";
import { silentProgress } from "../src/pipeline/progress.ts";
import { maxBudgetEvaluations } from "../src/prune/budget.ts";
import { renderReport } from "../src/report/render.ts";
import type { Result } from "../src/results/schema.ts";
import { writeRescaledDecoder } from "./helpers/rescaled-decoder.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The bundled decoder with the demo's calibration and evaluation, searched for a +5% budget. */
function budgetConfig(dir: string, model: string, methods: string): string {
  const file = path.join(dir, `${path.basename(model, ".onnx")}.yml`);
  writeFileSync(
    file,
    `name: demo-decoder
model:
  path: ${model}
  tokenizer: ${path.join(root, "demo/tokenizer.json")}
  family: decoder
prune:
  methods: [${methods}]
  sparsity: [0.3, 0.5, 0.7]
  calibration: { dataset: bundled/train, samples: 32, seq_len: 64, seed: 0 }
  budget: { max_increase: "5%", tolerance: 0.01 }
eval:
  perplexity: { dataset: bundled/test, seq_len: 64, stride: 32, max_tokens: 5000 }
  latency: false
`,
  );
  return file;
}

export let demoBudget: Result | undefined;

test("budget search on the demo decoder: each method's found sparsity is within +5% and the next bracket point beyond; SparseGPT > Wanda > magnitude", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-budget-"));
  const config = budgetConfig(dir, path.join(root, "demo/models/decoder.onnx"), "magnitude, wanda, sparsegpt");
  const run = () => runConfigs({ configs: [config], outDir: path.join(dir, "out"), cacheDir: path.join(dir, "cache"), progress: silentProgress, report: false });
  const result = (await run()).results[0];
  demoBudget = result;
  const budget = result.budget!;
  assert.ok(budget, "the result records the budget search");
  const dense = result.runs.find((r) => r.id === "dense")!.perplexity!.token;
  assert.equal(budget.dense, dense);
  const reach: Record<string, number> = {};
  for (const s of budget.searches) {
    assert.equal(s.error, undefined, `${s.label}: ${s.error}`);
    const within = result.runs.find((r) => r.id === s.within.run)!;
    const beyond = result.runs.find((r) => r.id === s.beyond?.run)!;
    assert.ok(within && beyond, `${s.label}: both ends of the bracket are runs of the result`);
    assert.ok(within.perplexity!.token / dense - 1 <= 0.05, `${s.label}: ${within.id} is within +5%`);
    assert.ok(beyond.perplexity!.token / dense - 1 > 0.05, `${s.label}: ${beyond.id} is beyond +5%`);
    assert.ok(Math.abs(beyond.sparsity - within.sparsity - 0.01) < 1e-9, `${s.label}: the bracket ${within.sparsity}..${beyond.sparsity} is one 1% step`);
    assert.ok(s.evaluations >= 1 && s.evaluations <= maxBudgetEvaluations(0.01), `${s.label}: ${s.evaluations} evaluations`);
    const searched = result.runs.filter((r) => r.search && r.id.startsWith(`${s.label}@`));
    assert.equal(searched.length, s.evaluations, `${s.label}: every evaluated point is a run marked as part of the search`);
    for (const r of searched) assert.ok(r.perplexity && r.latency.length === 0, `${r.id}: search points measure perplexity only`);
    reach[s.label] = s.within.sparsity;
  }
  assert.deepEqual(Object.keys(reach), ["magnitude", "wanda", "sparsegpt"]);
  assert.ok(reach.sparsegpt > reach.wanda && reach.wanda > reach.magnitude, `reach follows the methods' quality: ${JSON.stringify(reach)}`);

  // Journaled: the same config again replays every search point from the stages on disk.
  const stages = path.join(dir, "out", "demo-decoder", "stages");
  const before = readdirSync(stages).length;
  const again = (await run()).results[0];
  assert.equal(readdirSync(stages).length, before, "no stage is redone");
  assert.deepEqual(again.budget, result.budget);
});

test("the report leads with the reach; a changed model that computes the same function but prunes worse is a reach regression", async (t) => {
  if (!demoBudget) return t.skip("needs the first test's result");
  const base = demoBudget;
  const alone = renderReport({ results: [base], options: { charts: "local" } });
  const lead = alone.markdown.indexOf("### How far it prunes");
  assert.ok(lead > 0 && lead < alone.markdown.indexOf("### Against base"), "the budget section comes first after the verdict");
  const reach = (label: string) => `${Math.round(base.budget!.searches.find((s) => s.label === label)!.within.sparsity * 100)}%`;
  assert.ok(alone.markdown.includes(`**demo-decoder, within +5% perplexity:** SparseGPT ${reach("sparsegpt")}, Wanda ${reach("wanda")}, magnitude ${reach("magnitude")}.`), "headline in reach order");
  assert.ok(alone.charts.some((c) => c.id.endsWith("-budget") && c.series.some((s) => s.markers)), "a chart with the found points");

  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-budget-changed-"));
  const changed = path.join(dir, "rescaled.onnx");
  writeRescaledDecoder(path.join(root, "demo/models/decoder.onnx"), changed);
  const { results } = await runConfigs({ configs: [budgetConfig(dir, changed, "magnitude")], outDir: path.join(dir, "out"), cacheDir: path.join(dir, "cache"), progress: silentProgress, report: false });
  const head = results[0];
  const denseOf = (r: Result) => r.runs.find((x) => x.id === "dense")!.perplexity!.token;
  assert.ok(Math.abs(denseOf(head) / denseOf(base) - 1) < 1e-4, "the rescaled model computes the same function");
  const from = base.budget!.searches.find((s) => s.label === "magnitude")!.within.sparsity;
  const to = head.budget!.searches[0].within.sparsity;
  assert.ok(to < from - 0.02, `magnitude's reach falls (${from} -> ${to})`);
  const report = renderReport({ results: [head], base: [base], options: { charts: "none" } });
  assert.equal(report.verdict.state, "regression");
  const fell = report.verdict.comparisons.find((c) => c.metric === "reach")!;
  assert.equal(fell.state, "regression");
  const sentence = `magnitude's reach fell from ${Math.round(from * 100)}% to ${Math.round(to * 100)}%`;
  assert.ok(report.verdict.summary.includes(sentence), report.verdict.summary);
  assert.ok(report.markdown.includes(sentence));
  const sweep = new Set(head.runs.filter((r) => !r.search).map((r) => r.id));
  assert.ok(report.verdict.comparisons.every((c) => c.metric === "reach" || sweep.has(c.runId)), "search points are not compared one by one");
  assert.ok(!report.verdict.added.length && !report.verdict.removed.some((r) => r.runId.startsWith("magnitude@")), "nor listed as added or removed");
  // A threshold wider than the fall makes it no change.
  const lenient = renderReport({ results: [head], base: [base], options: { charts: "none", thresholds: { reach: { absolute: from - to + 0.01 } } } });
  assert.equal(lenient.verdict.comparisons.find((c) => c.metric === "reach")!.state, "no-change");
});
