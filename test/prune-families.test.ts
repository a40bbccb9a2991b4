import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { mapModel } from "../src/models/index.ts";
import { readModel } from "../src/onnx/index.ts";
import { PruneError, pruneFile } from "../src/prune/index.ts";
import { SHARED_MODELS, TORCH_EXPORT, sharedModelFiles, skipWithoutShared } from "./helpers/shared-data.ts";

/**
 * Inputs for any of the shared models from their declared shapes: batch 1, 4 tokens, an empty
 * KV cache; ids below 20 (the smallest vocabulary among them), masks of ones.
 */
function feeds(session: ort.InferenceSession): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor) continue;
    const shape = meta.shape.map((d) => {
      if (typeof d === "number") return d;
      if (/batch/i.test(d)) return 1;
      if (/past/i.test(d)) return 0;
      return 4;
    });
    const n = shape.reduce((a, b) => a * b, 1);
    const value = (i: number) => {
      if (/mask/i.test(meta.name)) return 1;
      if (/position/i.test(meta.name)) return i % shape[shape.length - 1];
      if (/token_type/i.test(meta.name)) return 0;
      return (i * 7 + 1) % 20;
    };
    switch (meta.type) {
      case "int64":
        out[meta.name] = new ort.Tensor("int64", BigInt64Array.from({ length: n }, (_, i) => BigInt(value(i))), shape);
        break;
      case "int32":
        out[meta.name] = new ort.Tensor("int32", Int32Array.from({ length: n }, (_, i) => value(i)), shape);
        break;
      case "float16":
        out[meta.name] = new ort.Tensor("float16", new Uint16Array(n), shape);
        break;
      default:
        out[meta.name] = new ort.Tensor("float32", new Float32Array(n), shape);
    }
  }
  return out;
}

async function outputs(file: string): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(file, { logSeverityLevel: 3, intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    return await session.run(feeds(session));
  } finally {
    await session.release();
  }
}

function values(t: ort.Tensor): number[] {
  return Array.from(t.data as ArrayLike<number>, Number);
}

/**
 * The models mapModel recognises (the BeamSearch dummy keeps its weights in subgraphs), less
 * the slow ones that add no kind of weight: a 3,836-node keras export, a second export of the
 * torch GPT-2's weights and a plain GPT-2 without head. That leaves the three torch exports,
 * onnxruntime-fused GPT-2, fp16 Llama with external data, the toy BERT and DistilBERT.
 */
function mappable(): string[] {
  return sharedModelFiles().filter((file) => {
    if (/TFBert|model-opset17|gpt2_past/.test(file)) return false;
    try {
      mapModel(readModel(file));
      return true;
    } catch {
      return false;
    }
  });
}

const METHODS = [
  { method: "magnitude", sparsity: 0.5 },
  { method: "global", sparsity: 0.5 },
  { method: "random", sparsity: 0.5 },
  { method: "nm", options: { pattern: "2:4" } },
] as const;

test("every shared model family pruned at 50% by each method loads and runs", { skip: skipWithoutShared(SHARED_MODELS) }, async () => {
  const files = mappable();
  for (const f of Object.values(TORCH_EXPORT)) assert.ok(files.includes(f), `${f} is recognised`);
  assert.ok(files.some((f) => f.includes("gpt2-tiny-random")), "gpt2-tiny-random is recognised");
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-prune-families-"));
  try {
    for (const file of files) {
      const dense = await outputs(file);
      const map = mapModel(readModel(file));
      for (const run of METHODS) {
        const out = path.join(dir, "pruned.onnx");
        const label = `${path.relative(SHARED_MODELS, file)} ${run.method}`;
        let result;
        try {
          result = await pruneFile({ input: file, output: out, mask: path.join(dir, "pruned.mask"), map, ...run });
        } catch (error) {
          // N:M needs input dimensions divisible by M; tiny test models (d=2) have none.
          if (run.method === "nm" && error instanceof PruneError && /not a multiple of M = 4/.test(error.message)) continue;
          throw new Error(`${label}: ${(error as Error).message}`, { cause: error });
        }
        assert.ok(Math.abs(result.achievedSparsity - 0.5) < 0.01, `${label}: achieved ${result.achievedSparsity}`);
        const pruned = await outputs(out);
        for (const [name, t] of Object.entries(dense)) {
          assert.deepEqual(pruned[name].dims, t.dims, `${label}: ${name} shape`);
          const v = values(pruned[name]);
          assert.equal(v.filter(Number.isNaN).length, values(t).filter(Number.isNaN).length, `${label}: ${name} has new NaNs`);
        }
        rmSync(out, { force: true });
        rmSync(`${out}.data`, { force: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sparsity 0 on the torch-export GPT-2 gives bit-identical logits", { skip: skipWithoutShared(TORCH_EXPORT.gpt2) }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-prune-zero-"));
  try {
    const out = path.join(dir, "zero.onnx");
    const result = await pruneFile({ input: TORCH_EXPORT.gpt2, output: out, method: "global", sparsity: 0 });
    assert.equal(result.pruned, 0);
    assert.deepEqual(values((await outputs(out)).logits), values((await outputs(TORCH_EXPORT.gpt2)).logits));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the tied GPT-2 embedding, when chosen, is pruned once and both copies run", { skip: skipWithoutShared(TORCH_EXPORT.gpt2) }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-prune-tied-"));
  try {
    const out = path.join(dir, "tied.onnx");
    const result = await pruneFile({ input: TORCH_EXPORT.gpt2, output: out, method: "magnitude", sparsity: 0.3, patterns: { include: ["transformer.wte.weight"] } });
    assert.equal(result.matrices.length, 1);
    assert.equal(result.matrices[0].copies.length, 1);
    assert.equal(result.params, 50257 * 64);
    assert.equal(result.pruned, Math.round(0.3 * 50257 * 64));
    assert.ok(values((await outputs(out)).logits).every(Number.isFinite));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
