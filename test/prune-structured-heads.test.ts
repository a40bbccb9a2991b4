import { test } from "node:test";
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema } from "onnx-buf";
import { buildModel, mapModel, type ArchitectureConfig } from "../src/models/index.ts";
import { graphOf, readModel, type OnnxModel } from "../src/onnx/index.ts";
import { pruneStructured } from "../src/prune/structured/index.ts";
import { TORCH_EXPORT, skipWithoutShared } from "./helpers/shared-data.ts";

async function logits(model: OnnxModel, ids: number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(toBinary(ModelProtoSchema, model.proto), { logSeverityLevel: 3, intraOpNumThreads: 1 });
  const S = ids.length;
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) {
    if (name === "input_ids" || name === "decoder_input_ids") feeds[name] = new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, S]);
    else if (name.includes("attention_mask")) feeds[name] = new ort.Tensor("int64", new BigInt64Array(S).fill(1n), [1, S]);
    else if (name === "token_type_ids") feeds[name] = new ort.Tensor("int64", new BigInt64Array(S), [1, S]);
    else if (name === "position_ids") feeds[name] = new ort.Tensor("int64", BigInt64Array.from({ length: S }, (_, i) => BigInt(i)), [1, S]);
  }
  const out = await session.run(feeds);
  await session.release();
  const first = out[session.outputNames[0]];
  return { data: first.data as Float32Array, dims: first.dims };
}

const ids = [5, 17, 3, 99, 42, 7, 1, 250];

for (const family of ["decoder", "encoder", "encoder-decoder"] as const) {
  test(`built ${family}: half the heads and neurons removed, the model runs with the expected parameter count and output shape`, async () => {
    const sizes: Partial<ArchitectureConfig> = { vocab: 300, layers: 2, dModel: 64, heads: 4, dFF: 128, positions: 64 };
    const model = buildModel({ family, preset: "tiny", sizes, seed: 3 });
    const map = mapModel(model);
    const dense = await logits(model, ids);
    const result = pruneStructured(model, map, { heads: 0.5, neurons: 0.5 });
    // Per removed head: q, k, v columns and biases, o rows; per removed neuron: an fc_in column
    // and bias, an fc_out row. Decoders of encoder-decoders also have cross-attention.
    const d = 64;
    const dh = 16;
    const attentionBlocks = family === "encoder-decoder" ? 2 * 2 + 2 : 2;
    const mlps = family === "encoder-decoder" ? 4 : 2;
    const removed = attentionBlocks * 2 * (3 * (d * dh + dh) + dh * d) + mlps * 64 * (2 * d + 1);
    assert.equal(result.paramsBefore - result.paramsAfter, removed);
    assert.equal(result.blocks.filter((b) => b.block !== "mlp").every((b) => b.kept.length === 2), true);
    const pruned = await logits(model, ids);
    assert.deepEqual(pruned.dims, dense.dims);
    assert.ok(pruned.data.every(Number.isFinite));
    // The rewritten model still maps, with the smaller matrices.
    const again = mapModel(model);
    const fc = again.params.find((p) => p.role === "fc_in" && p.layer === 0)!;
    assert.equal(fc.shape[fc.layout === "out_in" ? 0 : 1], 64);
  });
}

test("removing no heads leaves outputs bit-identical; removing heads whose weights are zero changes them by rounding only", async () => {
  const sizes = { vocab: 300, layers: 2, dModel: 64, heads: 4, dFF: 128, positions: 64 };
  const model = buildModel({ family: "decoder", preset: "tiny", sizes, seed: 4 });
  const map = mapModel(model);
  const dense = await logits(model, ids);
  const none = pruneStructured(model, map, { heads: 0, neurons: 0 });
  assert.equal(none.paramsAfter, none.paramsBefore);
  assert.deepEqual(await logits(model, ids), dense);
  // Zero head 0 of each layer (q, k, v columns and o rows), which then scores lowest.
  const graph = graphOf(model);
  for (const p of map.params.filter((q) => q.role === "qkv" || q.role === "o")) {
    const t = graph.initializer.find((x) => x.name === p.name)!;
    const w = new Float32Array(t.rawData.slice().buffer);
    const [rows, cols] = p.shape;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (p.role === "o" ? r < 16 : c % 64 < 16) w[r * cols + c] = 0;
    t.rawData = new Uint8Array(w.buffer);
  }
  const zeroed = await logits(model, ids);
  // A zero head still adds its (zero) context after the o projection's bias: removing it
  // changes nothing but the order of float sums.
  const result = pruneStructured(model, map, { heads: 0.25, neurons: 0 });
  assert.deepEqual(result.blocks.map((b) => b.kept), [[1, 2, 3], [1, 2, 3]]);
  const after = await logits(model, ids);
  let max = 0;
  for (let i = 0; i < after.data.length; i++) max = Math.max(max, Math.abs(after.data[i] - zeroed.data[i]));
  assert.ok(max < 1e-4, `max difference ${max}`);
});

test("torch-export gpt2: half the heads and neurons removed, it loads and runs", { skip: skipWithoutShared(TORCH_EXPORT.gpt2) }, async () => {
  const model = readModel(TORCH_EXPORT.gpt2);
  const map = mapModel(model);
  const dense = await logits(model, ids);
  const result = pruneStructured(model, map, { heads: 0.5, neurons: 0.5 });
  assert.ok(result.paramsAfter < result.paramsBefore);
  const pruned = await logits(model, ids);
  assert.deepEqual(pruned.dims, dense.dims);
  assert.ok(pruned.data.every(Number.isFinite));
});

test("prune --method structured writes a smaller model and its JSON result, through the same request as every method", async () => {
  const { mkdtempSync, readFileSync, rmSync } = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const { writeBuiltModel } = await import("../src/models/index.ts");
  const { pruneCommand } = await import("../src/cli/prune.ts");
  const { PruneReportSchema } = await import("../src/prune/index.ts");
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-structured-"));
  const quiet = console.error;
  console.error = () => {};
  try {
    const input = path.join(dir, "in.onnx");
    writeBuiltModel({ family: "decoder", preset: "tiny", sizes: { vocab: 300, layers: 2, positions: 64 }, file: input, externalData: "never" });
    const out = path.join(dir, "out.onnx");
    const json = path.join(dir, "r.json");
    const [r] = await pruneCommand(input, { method: "structured", heads: "0.5", neurons: "0.25", out, json });
    const report = PruneReportSchema.parse(JSON.parse(readFileSync(json, "utf8")));
    assert.deepEqual(report.results[0].options, { heads: 0.5, neurons: 0.25 });
    assert.equal(report.results[0].pruned, r.pruned);
    assert.ok(r.pruned > 0 && r.mask === null && r.blocks!.length === 4, `${r.pruned} removed in ${r.blocks?.length} blocks`);
    const reread = readModel(out);
    assert.equal((await logits(reread, ids)).dims.length, 3);
    // --sparsity is the fraction of both where --heads and --neurons are left out, as a config's sweep point is.
    const [both] = await pruneCommand(input, { method: "structured", sparsity: "0.5", out });
    assert.deepEqual(both.options, { heads: 0.5, neurons: 0.5 });
    await assert.rejects(pruneCommand(input, { method: "structured", heads: "1.5", out }), /--heads/);
    await assert.rejects(pruneCommand(input, { method: "magnitude", sparsity: "0.5", heads: "0.5", out }), /--heads is an option of --method structured/);
    await assert.rejects(pruneCommand(input, { method: "structured", heads: "0.5", out, mask: path.join(dir, "m.mask") }), /--mask: structured rewrites the graph/);
  } finally {
    console.error = quiet;
    rmSync(dir, { recursive: true, force: true });
  }
});
