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
import type { LoadedTokenizer } from "../src/eval/tokenizer.ts";
import { DataType } from "../src/onnx/dtype.ts";
import { graphOf, readModel } from "../src/onnx/model.ts";
import { readFloat32 } from "../src/onnx/tensor.ts";
import { pruneFile } from "../src/prune/index.ts";
import { pruneStructuredFile } from "../src/prune/structured/index.ts";
import { loadMasks } from "../src/train/masks.ts";
import { SHARED_MODELS, skipWithoutShared } from "./helpers/shared-data.ts";

export const LLAMA_FP16 = path.join(SHARED_MODELS, "llama-tiny-random-fp16/model.onnx");
export const GPT2_PAST = path.join(SHARED_MODELS, "gpt2-tiny-random/past.onnx");

/** Bytes as token ids: below both models' vocabularies (32000 and 1000). */
export const bytesTokenizer: LoadedTokenizer = {
  file: "<bytes>",
  kind: "other",
  vocabSize: 256,
  specials: {},
  specialIds: new Set(),
  hash: "bytes-v1",
  encode: (text) => [...Buffer.from(text, "utf8")],
  decode: (ids) => Buffer.from(ids).toString("utf8"),
  tokenToId: () => undefined,
};

export const TEXT = "Pruning a transformer: how much of it can go, and what does that cost in perplexity and latency? ".repeat(12);
const tokens = Int32Array.from(bytesTokenizer.encode(TEXT));
const calibration = { tokens, samples: 3, seqLen: 24, seed: 0, family: "decoder" as const };

const METHODS = [
  { method: "magnitude", sparsity: 0.5 },
  { method: "global", sparsity: 0.5 },
  { method: "nm", options: { pattern: "2:4" } },
  { method: "wanda", sparsity: 0.5, calibration },
  { method: "sparsegpt", sparsity: 0.5, calibration },
  { method: "owl", sparsity: 0.5, calibration },
] as const;

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
      for (const run of METHODS) {
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
