import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runConfigs } from "../src/pipeline/index.ts";
import { silentProgress } from "../src/pipeline/progress.ts";
import { maxBudgetEvaluations } from "../src/prune/budget.ts";
import type { Result } from "../src/results/schema.ts";

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
  const { results } = await runConfigs({ configs: [config], outDir: path.join(dir, "out"), cacheDir: path.join(dir, "cache"), progress: silentProgress, report: false });
  const result = results[0];
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
});
