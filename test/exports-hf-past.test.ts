/**
 * The standard Hugging Face / optimum decoder export with a KV cache (past_key_values.N.key and
 * .value inputs [batch, heads, past, head size], present.N.* outputs), built here with the
 * same weights as the plain export: every method, evaluation and fine-tuning must give the
 * plain export's results, since an empty cache changes nothing. No shared data needed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { parseConfig } from "../src/config/load.ts";
import { evaluatePerplexity } from "../src/eval/evaluate.ts";
import { buildModel } from "../src/models/index.ts";
import { graphOf, readModel } from "../src/onnx/model.ts";
import { writeModel } from "../src/onnx/write.ts";
import { planRuns } from "../src/pipeline/plan.ts";
import { pruneFile } from "../src/prune/index.ts";
import { pruneStructuredFile } from "../src/prune/structured/index.ts";
import { loadMasks } from "../src/train/masks.ts";
import { finetune } from "../src/train/train.ts";
import { bytesTokenizer, MASK_METHODS, TEXT, TEXT_TOKENS as tokens } from "./helpers/export-runs.ts";

const sizes = { vocab: 256, layers: 2, dModel: 32, heads: 4, dFF: 64, positions: 64 };

function models(dir: string): { plain: string; cached: string } {
  const plain = path.join(dir, "plain.onnx");
  const cached = path.join(dir, "cached.onnx");
  writeModel(buildModel({ family: "decoder", preset: "tiny", sizes, seed: 7 }), plain);
  writeModel(buildModel({ family: "decoder", preset: "tiny", sizes, seed: 7, kvCache: true }), cached);
  return { plain, cached };
}

const int64 = (values: number[], dims: number[]) => new ort.Tensor("int64", BigInt64Array.from(values, BigInt), dims);
const ids = Array.from({ length: 10 }, (_, i) => (i * 53 + 7) % 256);

async function run(file: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(file, { logSeverityLevel: 3 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** Each layer's cache: the present outputs of an earlier run, or empty. */
function caches(from?: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (let i = 0; i < sizes.layers; i++) {
    for (const kind of ["key", "value"]) feeds[`past_key_values.${i}.${kind}`] = from?.[`present.${i}.${kind}`] ?? new ort.Tensor("float32", new Float32Array(0), [1, sizes.heads, 0, 8]);
  }
  return feeds;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

test("built HF decoder with past_key_values: an empty cache gives the plain export's logits, a cached step the full pass's", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-hf-past-"));
  try {
    const { plain, cached } = models(dir);
    const names = graphOf(readModel(cached)).input.map((i) => i.name);
    assert.deepEqual(names, ["input_ids", "attention_mask", "past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.key", "past_key_values.1.value"]);
    const full = (await run(plain, { input_ids: int64(ids, [1, 10]), attention_mask: int64(Array(10).fill(1), [1, 10]) })).logits.data as Float32Array;
    const first = await run(cached, { input_ids: int64(ids, [1, 10]), attention_mask: int64(Array(10).fill(1), [1, 10]), ...caches() });
    assert.equal(maxDiff(first.logits.data as Float32Array, full), 0, "empty cache = no cache");
    assert.deepEqual(first["present.0.key"].dims, [1, 4, 10, 8]);
    // 6 tokens, then 4 more on their cache.
    const head = await run(cached, { input_ids: int64(ids.slice(0, 6), [1, 6]), attention_mask: int64(Array(6).fill(1), [1, 6]), ...caches() });
    const step = await run(cached, { input_ids: int64(ids.slice(6), [1, 4]), attention_mask: int64(Array(10).fill(1), [1, 10]), ...caches(head) });
    const diff = maxDiff(step.logits.data as Float32Array, full.subarray(6 * 256));
    assert.ok(diff < 1e-5, `cached step differs from the full pass by ${diff}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("built HF decoder with past_key_values: every method gives the plain export's masks, evaluation its perplexity, fine-tuning its losses", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-hf-past-"));
  try {
    const { plain, cached } = models(dir);
    for (const run of MASK_METHODS) {
      const masks: Map<string, Uint8Array>[] = [];
      for (const file of [plain, cached]) {
        const mask = path.join(dir, `${path.basename(file, ".onnx")}.mask`);
        const result = await pruneFile({ input: file, output: path.join(dir, "pruned.onnx"), mask, ...run });
        assert.ok(Math.abs(result.achievedSparsity - 0.5) < 0.01, `${run.method}: achieved ${result.achievedSparsity}`);
        masks.push(loadMasks(mask));
      }
      assert.equal(masks[0].size, 4 * sizes.layers);
      for (const [name, keep] of masks[0]) assert.deepEqual(masks[1].get(name), keep, `${run.method}: ${name} has the same mask with and without the cache inputs`);
    }
    const structured = [plain, cached].map((file) => pruneStructuredFile({ input: file, output: path.join(dir, `${path.basename(file, ".onnx")}-s.onnx`), heads: 0.5, neurons: 0.5 }));
    assert.equal(structured[1].paramsAfter, structured[0].paramsAfter);
    const past = graphOf(readModel(path.join(dir, "cached-s.onnx"))).input.find((i) => i.name === "past_key_values.0.key")!;
    assert.equal(past.type?.value.case === "tensorType" && Number(past.type.value.value.shape!.dim[1].value.value), 2, "the cache declares the 2 heads left");
    const [a, b] = await Promise.all(
      [plain, cached].map(async (file) => (await evaluatePerplexity(readModel(path.join(dir, `${path.basename(file, ".onnx")}-s.onnx`)), bytesTokenizer, TEXT, "repeated", { seqLen: 32, cacheDir: null, joinRows: false })).perplexity.token),
    );
    assert.ok(Number.isFinite(a) && Math.abs(a - b) / a < 1e-6, `structured perplexity ${a} vs ${b}`);

    const losses = [];
    for (const file of [plain, cached]) {
      const result = await finetune({ model: readModel(file), family: "decoder", tokens, steps: 6, lr: 5e-3, batch: 2, seqLen: 16, evalBatches: 1, evalEvery: 6, seed: 2 });
      losses.push(result.history.map((h) => h.loss));
      assert.ok(result.final.loss < result.initial.loss, `${path.basename(file)}: ${result.initial.loss} -> ${result.final.loss}`);
    }
    assert.ok(maxDiff(losses[0], losses[1]) < 1e-4 * Math.max(...losses[0]), `losses ${losses[0]} vs ${losses[1]}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a config gives structured pruning its head count: { structured: { heads_count } }, checked before any work", () => {
  const config = (methods: string) => parseConfig(`name: t\nmodel: { path: m.onnx, family: decoder }\nprune: { methods: ${methods}, sparsity: [0.25] }\n`, "t.yml").config;
  const [run] = planRuns(config("[{ structured: { heads_count: 4 } }]"));
  assert.equal(run.method, "structured");
  assert.deepEqual(run.options, { heads_count: 4 });
  assert.deepEqual(planRuns(config("[structured]"))[0].options, {});
  assert.throws(() => planRuns(config("[{ structured: { heads_count: 0 } }]")), /structured option heads_count: 0 is not a positive integer/);
  assert.throws(() => planRuns(config("[{ structured: { heads: 4 } }]")), /structured option heads: 4 is not a fraction in \[0, 1\)/);
  assert.throws(() => planRuns(config("[{ structured: { head: 0.5 } }]")), /unknown option "head"/);
  assert.throws(() => planRuns(config("[{ structured: four }]")), /structured takes its options as a map/);
});
