/**
 * The exports users bring: an onnxruntime-genai Llama (fp16 weights in external data, fused
 * contrib ops, past_key_values.N.key/value inputs) and onnxruntime's optimized GPT-2 (fused
 * Attention with past_N inputs). Every pruning method, evaluation and fine-tuning run on both;
 * the checks are on the results (zeros really in the fp16 bytes, counts, finite perplexity,
 * falling loss), not only that nothing throws.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { evaluatePerplexity } from "../src/eval/evaluate.ts";
import { createSession } from "../src/eval/session.ts";
import { DataType, halfToFloat } from "../src/onnx/dtype.ts";
import { graphOf, readModel, type OnnxModel } from "../src/onnx/model.ts";
import { writeModel } from "../src/onnx/write.ts";
import { readFloat32 } from "../src/onnx/tensor.ts";
import { pruneFile } from "../src/prune/index.ts";
import { pruneStructuredFile } from "../src/prune/structured/index.ts";
import { randomBatch } from "../src/train/batches.ts";
import { batchFeeds, emptyPastFeeds, inputTypes, scaleTensor } from "../src/train/feeds.ts";
import { trainingView } from "../src/train/fp32-view.ts";
import { gradCheck } from "../src/train/gradcheck.ts";
import { loadMasks } from "../src/train/masks.ts";
import { Rng } from "../src/train/rng.ts";
import { finetune } from "../src/train/train.ts";
import { buildTrainingGraph, LOSS_SCALE } from "../src/train/training-graph.ts";
import { bytesTokenizer, MASK_METHODS, TEXT, TEXT_TOKENS as tokens } from "./helpers/export-runs.ts";
import { FEED_SIZES, feedsFor } from "./helpers/model-feeds.ts";
import { SHARED_MODELS, skipWithoutShared } from "./helpers/shared-data.ts";

const LLAMA_FP16 = path.join(SHARED_MODELS, "llama-tiny-random-fp16/model.onnx");
const GPT2_PAST = path.join(SHARED_MODELS, "gpt2-tiny-random/past.onnx");


async function perplexity(file: string): Promise<number> {
  const result = await evaluatePerplexity(readModel(file), bytesTokenizer, TEXT, "repeated", { seqLen: 32, cacheDir: null, joinRows: false });
  return result.perplexity.token;
}

for (const [label, file, type] of [
  ["llama fp16 (genai)", LLAMA_FP16, DataType.FLOAT16],
  ["gpt2 past (optimized)", GPT2_PAST, DataType.FLOAT],
] as const) {
  test(`${label}: every unstructured method prunes in the model's own type, zeros where the mask says, finite perplexity`, { skip: skipWithoutShared(file) }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pb-exports-prune-"));
    try {
      const dense = await perplexity(file);
      assert.ok(Number.isFinite(dense) && dense > 1, `dense perplexity ${dense}`);
      const source = readModel(file);
      const before = new Map(graphOf(source).initializer.map((t) => [t.name, t]));
      for (const run of MASK_METHODS) {
        const out = path.join(dir, `${run.method}.onnx`);
        const mask = path.join(dir, `${run.method}.mask`);
        const result = await pruneFile({ input: file, output: out, mask, ...run });
        const where = `${label} ${run.method}`;
        assert.ok(result.matrices.length > 0, `${where}: pruned something`);
        assert.ok(Math.abs(result.achievedSparsity - 0.5) < 0.01, `${where}: achieved ${result.achievedSparsity}`);
        const pruned = readModel(out);
        const masks = loadMasks(mask);
        let zeros = 0;
        let changedKept = 0;
        for (const m of result.matrices) {
          const t = graphOf(pruned).initializer.find((x) => x.name === m.name)!;
          assert.equal(t.dataType, type, `${where}: ${m.name} keeps its type`);
          const w = readFloat32(pruned, t).data;
          const original = readFloat32(source, before.get(m.name)!).data;
          const keep = masks.get(m.name)!;
          assert.equal(keep.length, w.length, `${where}: ${m.name} mask size`);
          for (let i = 0; i < w.length; i++) {
            if (!keep[i]) {
              assert.ok(Object.is(w[i], 0), `${where}: ${m.name}[${i}] pruned is +0, got ${w[i]}`);
              zeros++;
            } else if (w[i] !== original[i]) changedKept++;
          }
        }
        assert.equal(zeros, result.pruned, `${where}: zeros counted`);
        // Only SparseGPT (and OWL over it, not here) reconstructs the weights it keeps.
        if (run.method === "sparsegpt") assert.ok(changedKept > result.pruned / 4, `${where}: kept weights reconstructed (${changedKept} changed)`);
        else assert.equal(changedKept, 0, `${where}: kept weights untouched`);
        const ppl = await perplexity(out);
        assert.ok(Number.isFinite(ppl) && ppl > 1, `${where}: perplexity ${ppl}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** Elements of every float initializer: what a structured rewrite really removes. */
function floatElements(file: string): number {
  let n = 0;
  for (const t of graphOf(readModel(file)).initializer) if (t.dataType === DataType.FLOAT || t.dataType === DataType.FLOAT16) n += t.dims.reduce((a, d) => a * Number(d), 1);
  return n;
}

test("structured pruning of both exports: head count from the fused attention nodes, shared biases copied per layer, caches resized, types kept", { skip: skipWithoutShared(LLAMA_FP16, GPT2_PAST) }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-exports-structured-"));
  try {
    // GPT-2 (fused Attention, 4 heads; the optimizer shares one zero bias among all layers).
    const gpt2 = path.join(dir, "gpt2.onnx");
    const g = pruneStructuredFile({ input: GPT2_PAST, output: gpt2, heads: 0.5, neurons: 0.5 });
    assert.equal(g.blocks.length, 10);
    for (const b of g.blocks) assert.equal(b.kept.length, b.block === "attention" ? 2 : 64, `${b.part}.${b.layer}.${b.block}`);
    assert.equal(floatElements(GPT2_PAST) - floatElements(gpt2), g.paramsBefore - g.paramsAfter, "the counts are what left the file");
    const model = readModel(gpt2);
    const attention = graphOf(model).node.filter((n) => n.opType === "Attention");
    assert.deepEqual(attention.map((n) => Number(n.attribute.find((a) => a.name === "num_heads")!.i)), [2, 2, 2, 2, 2]);
    const past = graphOf(model).input.find((i) => i.name === "past_0")!;
    assert.equal(past.type?.value.case === "tensorType" && Number(past.type.value.value.shape!.dim[2].value.value), 2, "past_0 [2, batch, 2, past, 8]");
    const ppl = await perplexity(gpt2);
    assert.ok(Number.isFinite(ppl) && ppl > 1, `gpt2 structured perplexity ${ppl}`);
    // The head count given equals the one read; a count that does not divide the width names the flag.
    assert.equal(pruneStructuredFile({ input: GPT2_PAST, output: gpt2, heads: 0.5, neurons: 0, headCount: 4 }).paramsAfter, pruneStructuredFile({ input: GPT2_PAST, output: gpt2, heads: 0.5, neurons: 0 }).paramsAfter);
    assert.throws(() => pruneStructuredFile({ input: GPT2_PAST, output: gpt2, heads: 0.5, neurons: 0, headCount: 3 }), /--heads-count/);

    // Llama (MultiHeadAttention num_heads=1: no head can go; the gated MLP shrinks, fp16 kept).
    const llama = path.join(dir, "llama.onnx");
    const l = pruneStructuredFile({ input: LLAMA_FP16, output: llama, heads: 0.5, neurons: 0.5 });
    assert.deepEqual(l.blocks.map((b) => `${b.block}:${b.before}->${b.kept.length}`), ["mlp:64->32", "mlp:64->32"]);
    assert.equal(floatElements(LLAMA_FP16) - floatElements(llama), l.paramsBefore - l.paramsAfter);
    assert.equal(l.paramsBefore - l.paramsAfter, 2 * 3 * 16 * 32);
    for (const t of graphOf(readModel(llama)).initializer) if (/mlp/.test(t.name)) assert.equal(t.dataType, DataType.FLOAT16, `${t.name} stays fp16`);
    const lppl = await perplexity(llama);
    assert.ok(Number.isFinite(lppl) && lppl > 1, `llama structured perplexity ${lppl}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Outputs in fp32 on the shared feeds after a past of P tokens (helpers/model-feeds.ts). */
async function runOutputs(model: OnnxModel, P: number): Promise<Map<string, Float32Array>> {
  const { session } = await createSession(model);
  const saved = FEED_SIZES.past;
  FEED_SIZES.past = P;
  try {
    const out = await session.run(feedsFor(model));
    return new Map(Object.entries(out).map(([k, t]) => [k, t.type === "float16" ? Float32Array.from(t.data as Uint16Array, halfToFloat) : (t.data as Float32Array)]));
  } finally {
    FEED_SIZES.past = saved;
    await session.release();
  }
}

test("the training view (fp32, fused kernels written as plain ops) computes what onnxruntime's kernels compute, with and without a past", { skip: skipWithoutShared(LLAMA_FP16, GPT2_PAST) }, async () => {
  for (const [file, P, tolerance] of [
    [GPT2_PAST, 0, 1e-6],
    [GPT2_PAST, 3, 1e-6],
    // fp16 kernels against fp32 arithmetic: half-precision rounding of logits near 0.4.
    [LLAMA_FP16, 0, 2e-3],
  ] as const) {
    const model = readModel(file);
    const view = trainingView(model);
    assert.ok(view.defused.size > 0, "fused nodes were written out");
    assert.ok(!graphOf(view.model).node.some((n) => n.domain === "com.microsoft"), "no contrib op left");
    assert.ok(!graphOf(view.model).initializer.some((t) => t.dataType === DataType.FLOAT16), "no fp16 left");
    const fused = await runOutputs(model, P);
    const plain = await runOutputs(view.model, P);
    for (const [name, a] of fused) {
      const b = plain.get(name)!;
      assert.equal(b.length, a.length, `${name} size`);
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      assert.ok(worst < tolerance, `${path.basename(path.dirname(file))} past ${P}: ${name} differs by ${worst}`);
    }
  }
});

test("gradients through the defused graphs match finite differences", { skip: skipWithoutShared(LLAMA_FP16, GPT2_PAST) }, async (t) => {
  for (const file of [GPT2_PAST, LLAMA_FP16]) {
    const view = trainingView(readModel(file));
    const graph = graphOf(view.model);
    const batch = randomBatch(tokens, 1, { family: "decoder", seqLen: 8, vocab: 256 }, new Rng(3));
    const inputs = graph.input.map((i) => i.name);
    const types = new Map<string, number>(graph.input.map((i) => [i.name, i.type?.value.case === "tensorType" ? i.type.value.value.elemType : DataType.INT64]));
    types.set("labels", DataType.INT64);
    const past = emptyPastFeeds(view.model, 1);
    const training = await buildTrainingGraph({ model: view.model, loss: { kind: "lm", family: "decoder" }, feeds: batchFeeds(batch, [...inputs, "labels"], types, past), frozen: view.frozen });
    for (const name of view.frozen) assert.ok(!training.params.some((p) => p.name === name), `${name} is not trained`);
    const inits = new Map(graph.initializer.map((x) => [x.name, x]));
    const params = new Map(training.params.map((p) => [p.name, Float32Array.from(readFloat32(view.model, inits.get(p.name)!).data)]));
    const feeds = { ...batchFeeds(batch, training.inputs, inputTypes(training.train), { ...past, [LOSS_SCALE]: scaleTensor(1 / 8) }) };
    const results = await gradCheck({ graph: training, feeds, params, eps: 1e-3, coordinates: 8 });
    const worst = results.reduce((a, b) => (b.relError > a.relError ? b : a));
    t.diagnostic(`${path.basename(path.dirname(file))}: ${results.length} tensors, worst relative error ${worst.relError.toExponential(2)} (${worst.name})`);
    assert.ok(worst.relError < 1e-2, `${file}: ${worst.name} relative error ${worst.relError} (analytic ${worst.analytic}, numeric ${worst.numeric})`);
  }
});

test("finetune of both exports with a pruning mask: the loss falls, pruned weights stay exactly zero, weights keep their type", { skip: skipWithoutShared(LLAMA_FP16, GPT2_PAST) }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-exports-finetune-"));
  try {
    for (const [file, type] of [
      [GPT2_PAST, DataType.FLOAT],
      [LLAMA_FP16, DataType.FLOAT16],
    ] as const) {
      const pruned = path.join(dir, "pruned.onnx");
      const mask = path.join(dir, "pruned.mask");
      await pruneFile({ input: file, output: pruned, mask, method: "magnitude", sparsity: 0.5 });
      const masks = loadMasks(mask);
      const model = readModel(pruned);
      const result = await finetune({ model, family: "decoder", tokens, steps: 12, lr: 1e-2, batch: 2, seqLen: 24, evalBatches: 2, evalEvery: 12, masks, seed: 1 });
      const where = path.basename(path.dirname(file));
      assert.ok(result.final.loss < result.initial.loss - 0.05, `${where}: validation loss ${result.initial.loss} -> ${result.final.loss}`);
      assert.ok(result.history.every((h) => Number.isFinite(h.loss) && Number.isFinite(h.gradNorm)), `${where}: finite losses`);
      assert.equal(result.sparsity?.kept, 1, `${where}: every pruned weight stayed pruned`);
      const out = path.join(dir, "tuned.onnx");
      writeModel(result.model, out);
      const tuned = readModel(out);
      const original = new Map(graphOf(model).initializer.map((x) => [x.name, x]));
      let moved = 0;
      for (const x of graphOf(tuned).initializer) {
        const before = original.get(x.name)!;
        assert.equal(x.dataType, before.dataType, `${where}: ${x.name} keeps its type`);
        const keep = masks.get(x.name);
        if (!keep) continue;
        assert.equal(x.dataType, type);
        const w = readFloat32(tuned, x).data;
        const w0 = readFloat32(model, before).data;
        for (let i = 0; i < w.length; i++) {
          if (!keep[i]) assert.ok(Object.is(w[i], 0), `${where}: ${x.name}[${i}] stays +0`);
          else if (w[i] !== w0[i]) moved++;
        }
      }
      assert.ok(moved > 0, `${where}: kept weights were trained`);
      // The rotary tables are positions, not weights.
      for (const n of graphOf(model).node.filter((n) => n.opType === "RotaryEmbedding")) {
        for (const name of n.input.slice(2, 4)) assert.deepEqual(readFloat32(tuned, graphOf(tuned).initializer.find((x) => x.name === name)!).data, readFloat32(model, original.get(name)!).data);
      }
      const ppl = await perplexity(out);
      assert.ok(Number.isFinite(ppl) && ppl > 1 && ppl < Math.exp(result.initial.loss) * 1.5, `${where}: tuned perplexity ${ppl}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
