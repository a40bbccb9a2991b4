/** Whole-model gradients of the torch-export models (plain-op GPT-2, BERT, Pegasus) against finite differences. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readModel } from "../src/onnx/model.ts";
import { readFloat32 } from "../src/onnx/tensor.ts";
import { graphOf } from "../src/onnx/model.ts";
import { buildTrainingGraph, LOSS_SCALE } from "../src/train/training-graph.ts";
import { gradCheck } from "../src/train/gradcheck.ts";
import * as ort from "onnxruntime-node";
import { TORCH_EXPORT, skipWithoutShared } from "./helpers/shared-data.ts";
import type { Family } from "../src/models/types.ts";
import { buildModel } from "../src/models/index.ts";

const B = 1;
const S = 6;
const ids = (seed: number) => BigInt64Array.from({ length: B * S }, (_, i) => BigInt((seed * 7919 + i * 104729) % 30000));
const t64 = (data: BigInt64Array) => new ort.Tensor("int64", data, [B, S]);

const models: { name: keyof typeof TORCH_EXPORT; family: Family; feeds: () => Record<string, ort.Tensor> }[] = [
  { name: "gpt2", family: "decoder", feeds: () => ({ input_ids: t64(ids(1)), attention_mask: t64(new BigInt64Array(B * S).fill(1n)), labels: t64(ids(2)) }) },
  {
    name: "bert",
    family: "encoder",
    feeds: () => ({ input_ids: t64(ids(1)), attention_mask: t64(new BigInt64Array(B * S).fill(1n)), token_type_ids: t64(new BigInt64Array(B * S)), labels: t64(ids(3)) }),
  },
  {
    name: "pegasus",
    family: "encoder-decoder",
    feeds: () => ({ input_ids: t64(ids(1)), attention_mask: t64(new BigInt64Array(B * S).fill(1n)), decoder_input_ids: t64(ids(4)), labels: t64(ids(5)) }),
  },
];

for (const m of models) {
  test(`whole-model gradient check: torch-export ${m.name} (every trainable tensor)`, { skip: skipWithoutShared(TORCH_EXPORT[m.name]) }, async (t) => {
    const model = readModel(TORCH_EXPORT[m.name]);
    const graph = await buildTrainingGraph({ model, loss: { kind: "lm", family: m.family }, feeds: m.feeds() });
    const floats = graphOf(model).initializer.filter((t) => t.dataType === 1);
    // Every float initializer is trained, except tied copies computed from their original and Pegasus's fixed sinusoidal positions.
    const frozen = m.name === "pegasus" ? ["model.encoder.embed_positions.weight"] : [];
    assert.equal(graph.params.length + graph.tied.length + frozen.length, floats.length);
    for (const name of frozen) assert.ok(!graph.params.some((p) => p.name === name), `${name} stays fixed`);
    if (m.name !== "bert") assert.ok(graph.tied.length >= 1, "the tied LM head is recognised");
    const params = new Map(graph.params.map((p) => [p.name, Float32Array.from(readFloat32(model, floats.find((t) => t.name === p.name)!).data)]));
    const feeds = { ...m.feeds(), [LOSS_SCALE]: new ort.Tensor("float32", new Float32Array([1 / (B * S)]), []) };
    const results = await gradCheck({ graph, feeds, params, eps: 1e-2, coordinates: 16 });
    const worst = results.reduce((a, b) => (b.relError > a.relError ? b : a));
    t.diagnostic(`${m.name}: ${results.length} tensors (+${graph.tied.length} tied), worst relative error ${worst.relError.toExponential(2)} (${worst.name})`);
    assert.ok(worst.relError < 1e-2, `${m.name}: worst ${worst.name} relative error ${worst.relError} (analytic ${worst.analytic}, numeric ${worst.numeric})`);
  });
}

const built: { family: Family; feeds: () => Record<string, ort.Tensor> }[] = [
  { family: "decoder", feeds: () => ({ input_ids: t64(small(1)), attention_mask: t64(new BigInt64Array(B * S).fill(1n)), labels: t64(small(2)) }) },
  { family: "encoder", feeds: () => ({ input_ids: t64(small(1)), attention_mask: t64(new BigInt64Array(B * S).fill(1n)), token_type_ids: t64(new BigInt64Array(B * S)), labels: t64(small(3)) }) },
  { family: "encoder-decoder", feeds: () => ({ input_ids: t64(small(1)), attention_mask: t64(new BigInt64Array(B * S).fill(1n)), decoder_input_ids: t64(small(4)), labels: t64(small(5)) }) },
];

function small(seed: number): BigInt64Array {
  return BigInt64Array.from({ length: B * S }, (_, i) => BigInt((seed * 31 + i * 17) % 97));
}

// eps 1e-3 here: at 1e-2 a step along a whole ReLU layer's gradient crosses kinks (built Pegasus), a truncation error of a few percent.
for (const m of built) {
  test(`whole-model gradient check: built tiny ${m.family} (every trainable tensor)`, async (t) => {
    const model = buildModel({ family: m.family, preset: "tiny", sizes: { vocab: 97, layers: 2, dModel: 16, heads: 2, dFF: 32, positions: 32 }, seed: 3 });
    const inputs = graphOf(model).input.map((i) => i.name);
    const feeds = Object.fromEntries(Object.entries(m.feeds()).filter(([k]) => k === "labels" || inputs.includes(k)));
    const graph = await buildTrainingGraph({ model, loss: { kind: "lm", family: m.family }, feeds });
    const floats = graphOf(model).initializer.filter((x) => x.dataType === 1);
    const params = new Map(graph.params.map((p) => [p.name, Float32Array.from(readFloat32(model, floats.find((x) => x.name === p.name)!).data)]));
    const results = await gradCheck({ graph, feeds: { ...feeds, [LOSS_SCALE]: new ort.Tensor("float32", new Float32Array([1 / (B * S)]), []) }, params, eps: 1e-3 });
    const worst = results.reduce((a, b) => (b.relError > a.relError ? b : a));
    t.diagnostic(`built ${m.family}: ${results.length} tensors (+${graph.tied.length} tied, ${floats.length - results.length - graph.tied.length} frozen), worst relative error ${worst.relError.toExponential(2)} (${worst.name})`);
    assert.ok(worst.relError < 1e-2, `${m.family}: worst ${worst.name} relative error ${worst.relError} (analytic ${worst.analytic}, numeric ${worst.numeric})`);
  });
}
