import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { readModel, writeModel } from "../src/onnx/index.ts";
import { graphOf } from "../src/onnx/model.ts";
import { addLossGraph, IGNORE_INDEX } from "../src/eval/loss-graph.ts";
import { createSession } from "../src/eval/session.ts";
import { SHARED_MODELS, TORCH_EXPORT, skipWithoutShared } from "./helpers/shared-data.ts";

/** Independent reference: log-softmax over logits returned by a plain session, in float64. */
function referenceNll(logits: Float32Array, vocab: number, position: number, label: number): number {
  const row = logits.subarray(position * vocab, (position + 1) * vocab);
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return -(row[label]! - max - Math.log(sum));
}

const ids = [464, 3290, 318, 257, 1332, 286, 262, 1080, 13, 50256, 11, 7];

test("loss graph nll equals log-softmax over plain logits (gpt2 torch export)", { skip: skipWithoutShared(TORCH_EXPORT.gpt2) }, async () => {
  const model = readModel(TORCH_EXPORT.gpt2);
  const loss = addLossGraph(model, { family: "decoder" });
  assert.equal(loss.vocab, 50257);
  assert.deepEqual(loss.inputs, ["input_ids", "attention_mask"]);
  // The copy shares initializer objects (and so their bytes) with the original.
  assert.equal(graphOf(loss.model).initializer[0], graphOf(model).initializer[0]);
  assert.equal(graphOf(model).output.length, 1);
  assert.equal(graphOf(model).output[0]!.name, "logits");

  const S = ids.length;
  const inputIds = new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, S]);
  const mask = new ort.Tensor("int64", new BigInt64Array(S).fill(1n), [1, S]);
  const labels = ids.map((_, t) => (t + 1 < S && t !== 3 ? ids[t + 1]! : IGNORE_INDEX));

  const plain = await ort.InferenceSession.create(TORCH_EXPORT.gpt2, { logSeverityLevel: 3 });
  const logits = (await plain.run({ input_ids: inputIds, attention_mask: mask })).logits!.data as Float32Array;
  const { session } = await createSession(loss.model);
  assert.deepEqual(session.outputNames, ["nll"]);
  const out = await session.run({ input_ids: inputIds, attention_mask: mask, labels: new ort.Tensor("int64", BigInt64Array.from(labels, BigInt), [1, S]) });
  const nll = out.nll!.data as Float32Array;
  assert.deepEqual(out.nll!.dims, [1, S]);
  for (let t = 0; t < S; t++) {
    if (labels[t] === IGNORE_INDEX) assert.equal(nll[t], 0, `ignored position ${t}`);
    else {
      const ref = referenceNll(logits, 50257, t, labels[t]!);
      assert.ok(Math.abs(nll[t]! - ref) / ref < 1e-4, `position ${t}: ${nll[t]} vs ${ref}`);
    }
  }
  await plain.release();
  await session.release();
});

const llama = path.join(SHARED_MODELS, "llama-tiny-random-fp16/model.onnx");

test("loss graph works on an fp16 model with external data (cast to fp32 before LogSoftmax)", { skip: skipWithoutShared(llama) }, async () => {
  const model = readModel(llama);
  const loss = addLossGraph(model, { family: "decoder" });
  const { session } = await createSession(loss.model);
  const S = 6;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor("int64", BigInt64Array.from([1, 450, 4996, 17354, 1701, 29889].map(BigInt)), [1, S]),
    attention_mask: new ort.Tensor("int64", new BigInt64Array(S).fill(1n), [1, S]),
    position_ids: new ort.Tensor("int64", BigInt64Array.from([0, 1, 2, 3, 4, 5].map(BigInt)), [1, S]),
    labels: new ort.Tensor("int64", BigInt64Array.from([450, 4996, 17354, 1701, 29889, -100].map(BigInt)), [1, S]),
  };
  for (const name of session.inputNames.filter((n) => n.startsWith("past_key_values"))) {
    feeds[name] = new ort.Tensor("float16", new Uint16Array(0), [1, 1, 0, 16]);
  }
  const nll = (await session.run(feeds, ["nll"])).nll!.data as Float32Array;
  const mean = Array.from(nll.subarray(0, 5)).reduce((a, b) => a + b, 0) / 5;
  // Random weights: NLL near ln(32000) = 10.37.
  assert.ok(mean > 9.5 && mean < 11.2, `mean nll ${mean}`);
  assert.equal(nll[5], 0);
  await session.release();
});

test("a loss graph over external data in a writable folder runs from a graph file written beside the data, then removed", { skip: skipWithoutShared(TORCH_EXPORT.gpt2) }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-loss-ext-"));
  try {
    writeModel(readModel(TORCH_EXPORT.gpt2), path.join(dir, "model.onnx"), { externalData: "always" });
    const external = readModel(path.join(dir, "model.onnx"));
    const S = 8;
    const feeds = {
      input_ids: new ort.Tensor("int64", BigInt64Array.from(ids.slice(0, S), BigInt), [1, S]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(S).fill(1n), [1, S]),
      labels: new ort.Tensor("int64", BigInt64Array.from([...ids.slice(1, S), -100], BigInt), [1, S]),
    };
    const results: Float32Array[] = [];
    for (const model of [external, readModel(TORCH_EXPORT.gpt2)]) {
      const { session } = await createSession(addLossGraph(model, { family: "decoder" }).model);
      results.push((await session.run(feeds)).nll!.data as Float32Array);
      await session.release();
    }
    assert.deepEqual(results[0], results[1]);
    assert.deepEqual(readdirSync(dir).sort(), ["model.onnx", "model.onnx.data"]);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("loss graph refuses a model without the family's inputs", { skip: skipWithoutShared(TORCH_EXPORT.gpt2) }, () => {
  const model = readModel(TORCH_EXPORT.gpt2);
  assert.throws(() => addLossGraph(model, { family: "encoder-decoder" }), /needs input decoder_input_ids/);
  assert.throws(() => addLossGraph(model, { family: "decoder", logits: "nope" }), /no output "nope"/);
});
