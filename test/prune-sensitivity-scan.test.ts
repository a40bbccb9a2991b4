import { test } from "node:test";
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema } from "onnx-buf";
import { buildModel, mapModel } from "../src/models/index.ts";
import type { OnnxModel } from "../src/onnx/index.ts";
import { sensitivityScan } from "../src/prune/sensitivity.ts";
import { SensitivitySchema } from "../src/results/schema.ts";

const VOCAB = 200;
const ids = Array.from({ length: 24 }, (_, i) => (i * 37 + 11) % VOCAB);

/** Next-token perplexity of a fixed sequence, softmax computed here. */
async function perplexity(model: OnnxModel): Promise<number> {
  const session = await ort.InferenceSession.create(toBinary(ModelProtoSchema, model.proto), { logSeverityLevel: 3, intraOpNumThreads: 1 });
  const S = ids.length;
  const out = await session.run({ input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, S]), attention_mask: new ort.Tensor("int64", new BigInt64Array(S).fill(1n), [1, S]) });
  await session.release();
  const logits = out.logits.data as Float32Array;
  let nll = 0;
  for (let t = 0; t < S - 1; t++) {
    const row = logits.subarray(t * VOCAB, (t + 1) * VOCAB);
    const max = Math.max(...row);
    const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
    nll += Math.log(sum) + max - row[ids[t + 1]];
  }
  return Math.exp(nll / (S - 1));
}

test("sensitivity scan: one entry per layer, each pruning that layer alone, valid against the result schema", async () => {
  const load = () => buildModel({ family: "decoder", preset: "tiny", sizes: { vocab: VOCAB, layers: 3, positions: 32 }, seed: 5 });
  const map = mapModel(load());
  const evaluated: OnnxModel[] = [];
  const scan = await sensitivityScan(map, {
    method: "magnitude",
    sparsity: 0.9,
    load,
    evaluate: async (m) => {
      evaluated.push(m);
      return perplexity(m);
    },
  });
  SensitivitySchema.parse(scan);
  assert.deepEqual(scan.layers.map((l) => [l.part, l.layer]), [["decoder", 0], ["decoder", 1], ["decoder", 2]]);
  assert.equal(evaluated.length, 4);
  assert.equal(scan.baseline, await perplexity(load()));
  for (const l of scan.layers) {
    assert.ok(l.perplexity !== scan.baseline, `layer ${l.layer} changed nothing`);
    assert.ok(Math.abs(l.increase - (l.perplexity - scan.baseline)) < 1e-12);
  }
  // Each scan model has exactly one layer's matrices pruned.
  const zerosByLayer = (m: OnnxModel) => {
    const counts = new Map<number, number>();
    for (const p of map.params.filter((q) => q.prunable && q.layer !== null)) {
      const t = m.proto.graph!.initializer.find((x) => x.name === p.name)!;
      const w = new Float32Array(t.rawData.slice().buffer);
      counts.set(p.layer!, (counts.get(p.layer!) ?? 0) + w.filter((v) => v === 0).length);
    }
    return [...counts.entries()].filter(([, n]) => n > 0).map(([l]) => l);
  };
  assert.deepEqual(evaluated.slice(1).map(zerosByLayer), [[0], [1], [2]]);
});
