/**
 * The AdamW graph run by onnxruntime against the JavaScript reference (adamwStep): the same
 * values, moments, norms and training losses within float32 rounding, with masks, decay,
 * clipping and gradient accumulation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildModel } from "../src/models/index.ts";
import { bundledCorpus } from "../src/data/index.ts";
import { graphOf } from "../src/onnx/model.ts";
import { readFloat32 } from "../src/onnx/tensor.ts";
import { DataType } from "../src/onnx/dtype.ts";
import { randomBatch, type Example } from "../src/train/batches.ts";
import { batchFeeds, inputTypes, scaleTensor } from "../src/train/feeds.ts";
import { adamwStep, learningRate, newParamState, type ParamState } from "../src/train/optimizer.ts";
import { buildOptimizerGraph, GraphAdamW } from "../src/train/optimizer-graph.ts";
import { Rng } from "../src/train/rng.ts";
import * as ort from "onnxruntime-node";
import { openSession } from "../src/eval/session.ts";
import { finetune } from "../src/train/train.ts";
import { buildTrainingGraph } from "../src/train/training-graph.ts";

function randomArray(rng: Rng, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
}

function copyStates(states: ParamState[]): ParamState[] {
  return states.map((s) => ({ ...s, value: Float32Array.from(s.value), m: Float32Array.from(s.m), v: Float32Array.from(s.v) }));
}

/** The worst element of |a - b| / (rel |b| + abs): at most 1 when a equals b within the tolerance. */
function worst(a: Float32Array, b: Float32Array, rel: number, abs: number): number {
  let out = 0;
  for (let i = 0; i < a.length; i++) out = Math.max(out, Math.abs(a[i] - b[i]) / (rel * Math.abs(b[i]) + abs));
  return out;
}

test("the AdamW graph equals adamwStep over several steps: masks, decay only on matrices, clipping on and off, accumulated gradients", async () => {
  const rng = new Rng(7);
  const mask = Uint8Array.from({ length: 24 * 16 }, () => (rng.next() < 0.5 ? 1 : 0));
  const initial = [
    newParamState("w", randomArray(rng, 24 * 16, 0.5), true, mask),
    newParamState("bias", randomArray(rng, 16, 0.1), false),
    newParamState("w2", randomArray(rng, 16 * 8, 0.5), true),
  ];
  for (const clipNorm of [0.05, 1e6]) {
    const options = { weightDecay: 0.1, clipNorm };
    const reference = copyStates(initial);
    const graphStates = copyStates(initial);
    const optimizer = await GraphAdamW.create(graphStates, { ...options, accumulate: 2 });
    try {
      for (let t = 1; t <= 6; t++) {
        const micro = [0, 1].map(() => reference.map((s) => randomArray(rng, s.value.length, 0.3)));
        const summed = reference.map((_, k) => micro[0][k].map((g, i) => g + micro[1][k][i]));
        const lr = 0.01 * t;
        const expected = adamwStep(reference, summed, lr, t, options);
        const norm = await optimizer.step(
          micro.map((grads) => grads.map((g) => new ort.Tensor("float32", g, [g.length]))),
          lr,
          t,
        );
        assert.ok(Math.abs(norm - expected) <= 1e-6 * expected, `step ${t}: norm ${norm} vs ${expected}`);
        // float32 rounding: under 10 ulps per step (the reference rounds once per element from
        // float64, the graph after each op), and a few ulps of the step's update of size ~lr.
        reference.forEach((r, k) => {
          const s = graphStates[k];
          for (const [what, a, b] of [["m", s.m, r.m], ["v", s.v, r.v], ["value", s.value, r.value]] as const) {
            // Moments can cancel to near 0: their absolute tolerance follows their largest value.
            const scale = what === "value" ? lr : b.reduce((x, y) => Math.max(x, Math.abs(y)), 0);
            const w = worst(a, b, 1e-6 * t, 1e-6 * scale * t);
            assert.ok(w <= 1, `${r.name} ${what}, step ${t}: ${w.toFixed(2)} of the tolerance`);
          }
        });
        // Pruned coordinates: exactly zero, with zero moments.
        graphStates[0].value.forEach((w, i) => {
          if (!mask[i]) assert.ok(w === 0 && graphStates[0].m[i] === 0 && graphStates[0].v[i] === 0, `pruned weight ${i} moved`);
        });
      }
    } finally {
      await optimizer.release();
    }
  }
});

test("the optimizer graph is standard ONNX ops only, and rejects eps = 0 (a pruned coordinate would be 0/0)", () => {
  const g = buildOptimizerGraph({ params: [{ name: "w", size: 4, decay: true, masked: true }], weightDecay: 0.01, clipNorm: 1 });
  assert.deepEqual([...new Set(g.proto.graph!.node.map((n) => n.domain))], [""]);
  assert.ok(g.proto.graph!.node.every((n) => ["Add", "Sub", "Mul", "Div", "Sqrt", "Pow", "Min", "Sum", "Where", "ReduceSumSquare", "Cast"].includes(n.opType)));
  assert.throws(() => buildOptimizerGraph({ params: [], eps: 0 }), /eps must be positive/);
});

const corpus = bundledCorpus();
const bytes = (s: string) => Uint8Array.from(Buffer.from(s, "utf8"));

test("finetune with the optimizer graph has the losses of the JavaScript AdamW loop (tiny decoder, masks, accumulation)", async (t) => {
  const tokens = bytes(corpus.split("train").slice(0, 40_000));
  const valid = bytes(corpus.split("valid").slice(0, 4_000));
  const model = buildModel({ family: "decoder", preset: "tiny", sizes: { vocab: 256, layers: 1, dModel: 32, heads: 2, dFF: 64, positions: 64 }, seed: 3 });
  const fc = graphOf(model).initializer.find((t) => t.name.endsWith("mlp.c_fc.weight"))!;
  const fcValues = readFloat32(model, fc).data;
  const masks = new Map([[fc.name, Uint8Array.from(fcValues, (v) => (Math.abs(v) > 0.02 ? 1 : 0))]]);
  const o = { steps: 8, lr: 3e-3, batch: 4, seqLen: 16, accumulate: 2, seed: 5, weightDecay: 0.05, clipNorm: 0.5, evalEvery: 100, evalBatches: 1 };
  const tuned = await finetune({ model, family: "decoder", tokens, validTokens: valid, masks, ...o });

  // The same loop, step for step, with adamwStep on Float32Arrays.
  const batchOptions = { family: "decoder" as const, seqLen: o.seqLen, vocab: 256 };
  const types = new Map<string, number>([...graphOf(model).input.map((i) => [i.name, DataType.INT64] as const), ["labels", DataType.INT64]]);
  const sample = randomBatch(tokens, o.batch, batchOptions, new Rng(1));
  const graph = await buildTrainingGraph({
    model,
    loss: { kind: "lm", family: "decoder" },
    feeds: batchFeeds(sample, [...graphOf(model).input.map((i) => i.name), "labels"], types),
  });
  const session = await openSession(graph.train);
  const inits = new Map(graphOf(model).initializer.map((t) => [t.name, t]));
  const states = graph.params.map((p) => newParamState(p.name, Float32Array.from(readFloat32(model, inits.get(p.name)!).data), p.dims.length >= 2, masks.get(p.name)));
  const scored = (examples: Example[]) => examples.reduce((n, e) => n + e.labels.filter((l) => l !== -100).length, 0);
  const rng = new Rng(o.seed);
  const losses: number[] = [];
  const norms: number[] = [];
  try {
    for (let step = 0; step < o.steps; step++) {
      let loss = 0;
      let grads: Float32Array[] | undefined;
      for (let micro = 0; micro < o.accumulate; micro++) {
        const examples = randomBatch(tokens, o.batch, batchOptions, rng);
        const feeds: Record<string, ort.Tensor> = batchFeeds(examples, graph.inputs, inputTypes(graph.train), { [graph.scale!]: scaleTensor(1 / (scored(examples) * o.accumulate)) });
        graph.params.forEach((p, k) => (feeds[p.name] = new ort.Tensor("float32", states[k].value, p.dims)));
        const out = await session.run(feeds);
        loss += out[graph.loss].data[0] as number;
        const g = graph.params.map((p) => out[p.grad].data as Float32Array);
        grads = grads ? grads.map((a, k) => a.map((x, i) => x + g[k][i])) : g;
      }
      const lr = learningRate(step, { lr: o.lr, steps: o.steps, warmup: Math.floor(o.steps * 0.05), schedule: "linear" });
      norms.push(adamwStep(states, grads!, lr, step + 1, { weightDecay: o.weightDecay, clipNorm: o.clipNorm }));
      losses.push(loss);
    }
  } finally {
    await session.release();
  }
  assert.equal(tuned.history.length, o.steps);
  t.diagnostic(`largest relative loss difference ${Math.max(...tuned.history.map((h, i) => Math.abs(h.loss - losses[i]) / losses[i])).toExponential(2)}; loss ${losses[0].toFixed(4)} -> ${losses[o.steps - 1].toFixed(4)}`);
  tuned.history.forEach((h, i) => {
    assert.ok(Math.abs(h.loss - losses[i]) <= 1e-6 * losses[i], `step ${i + 1}: loss ${h.loss} vs ${losses[i]}`);
    assert.ok(Math.abs(h.gradNorm - norms[i]) <= 1e-5 * norms[i], `step ${i + 1}: gradient norm ${h.gradNorm} vs ${norms[i]}`);
  });
  assert.ok(norms.some((n) => n > o.clipNorm), "clipping is exercised");
  assert.ok(losses[o.steps - 1] < losses[0], "the loop trains");
  assert.deepEqual(tuned.sparsity!.violations, []);
});
