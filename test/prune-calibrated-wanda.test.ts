import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import type { ParamInfo } from "../src/models/types.ts";
import { wandaMasks } from "../src/prune/calibrated/wanda.ts";
import { pruneFile } from "../src/prune/engine.ts";
import type { PruneTarget } from "../src/prune/types.ts";
import { bundledCorpus } from "../src/data/bundled.ts";
import { loadTokenizer } from "../src/eval/tokenizer.ts";
import { readModel } from "../src/onnx/model.ts";
import { readFloat32 } from "../src/onnx/tensor.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function target(name: string, inputs: number, outputs: number, seed: number, layout: "in_out" | "out_in" = "in_out"): PruneTarget {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  // Values on a coarse grid so that equal scores (ties) occur.
  const weights = Float32Array.from({ length: inputs * outputs }, () => Math.round((rnd() - 0.5) * 8) / 4);
  const shape = layout === "in_out" ? [inputs, outputs] : [outputs, inputs];
  return { name, shape, count: inputs * outputs, layout, weights, copies: [], info: { name, shape } as unknown as ParamInfo };
}

/** Straight from the paper: per output, sort (|w| * ||x||, input index) and drop the first k. */
function reference(t: PruneTarget, sq: Float64Array, drop: (inputs: number) => number, group: number): Set<number> {
  const inOut = t.layout !== "out_in";
  const [inputs, outputs] = inOut ? t.shape : [t.shape[1], t.shape[0]];
  const pruned = new Set<number>();
  for (let o = 0; o < outputs; o++) {
    for (let g = 0; g < inputs; g += group) {
      const items = [];
      for (let i = g; i < g + group; i++) {
        const at = inOut ? i * outputs + o : o * inputs + i;
        items.push({ at, i, score: Math.abs(t.weights[at]) * Math.sqrt(sq[i]) });
      }
      items.sort((a, b) => a.score - b.score || a.i - b.i);
      for (const item of items.slice(0, drop(group))) pruned.add(item.at);
    }
  }
  return pruned;
}

test("Wanda masks equal a brute-force per-output ranking, with ties, in both layouts", () => {
  for (const layout of ["in_out", "out_in"] as const) {
    const t = target("w", 12, 7, 3, layout);
    const sq = Float64Array.from({ length: 12 }, (_, i) => (i % 3) + 1);
    const masks = wandaMasks([t], new Map([["w", sq]]), 0.5);
    const expected = reference(t, sq, (n) => Math.round(0.5 * n), 12);
    for (let k = 0; k < t.count; k++) assert.equal(masks.get("w")!.get(k), !expected.has(k), `${layout} element ${k}`);
  }
});

test("Wanda 2:4 keeps exactly 2 of every 4 inputs of each output, by score", () => {
  const t = target("w", 16, 5, 11);
  const sq = Float64Array.from({ length: 16 }, (_, i) => 1 + (i % 5));
  const masks = wandaMasks([t], new Map([["w", sq]]), 0.5, { nm: { n: 2, m: 4 } });
  const expected = reference(t, sq, () => 2, 4);
  for (let k = 0; k < t.count; k++) assert.equal(masks.get("w")!.get(k), !expected.has(k));
});

test("input norms change the choice: a weak weight on a strong input survives", () => {
  const t = target("w", 4, 1, 1);
  t.weights.set([1, 1, 0.5, 0.5]);
  const masks = wandaMasks([t], new Map([["w", Float64Array.from([1, 1, 100, 100])]]), 0.5);
  assert.deepEqual([0, 1, 2, 3].map((i) => masks.get("w")!.get(i)), [false, false, true, true]);
});

test("Wanda on the demo decoder: calibrates inside the graph, prunes 50% per output, and the model runs", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-wanda-"));
  const tokenizer = loadTokenizer(path.join(root, "demo/tokenizer.json"));
  const tokens = Int32Array.from(tokenizer.encode(bundledCorpus().split("train").slice(0, 20000)));
  const out = path.join(dir, "wanda.onnx");
  const result = await pruneFile({
    input: path.join(root, "demo/models/decoder.onnx"),
    output: out,
    method: "wanda",
    sparsity: 0.5,
    calibration: { tokens, samples: 4, seqLen: 32, seed: 0, family: "decoder" },
  });
  assert.ok(Math.abs(result.achievedSparsity - 0.5) < 1e-6);
  const model = readModel(out);
  for (const m of result.matrices) {
    const tensor = model.proto.graph!.initializer.find((t) => t.name === m.name)!;
    const w = readFloat32(model, tensor).data;
    const [rows, cols] = m.shape;
    // Per output column of an [in, out] MatMul weight: exactly half its inputs are zero.
    for (let o = 0; o < cols; o++) {
      let zeros = 0;
      for (let i = 0; i < rows; i++) if (w[i * cols + o] === 0) zeros++;
      assert.equal(zeros, Math.round(rows / 2), `${m.name} output ${o}`);
    }
  }
  const session = await ort.InferenceSession.create(out, { logSeverityLevel: 3 });
  const ids = new ort.Tensor("int64", BigInt64Array.from([72n, 101n, 108n, 108n]), [1, 4]);
  const feeds: Record<string, ort.Tensor> = { input_ids: ids };
  if (session.inputNames.includes("attention_mask")) feeds.attention_mask = new ort.Tensor("int64", BigInt64Array.from([1n, 1n, 1n, 1n]), [1, 4]);
  const logits = (await session.run(feeds)).logits;
  assert.deepEqual(logits.dims, [1, 4, 260]);
  assert.ok((logits.data as Float32Array).every(Number.isFinite));
});
