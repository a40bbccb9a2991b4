import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, type ModelProto } from "onnx-buf";
import { builtWeightShapes } from "../src/models/index.ts";
import type { PresetName } from "../src/models/index.ts";
import { DataType } from "../src/onnx/dtype.ts";
import { runnerFingerprint } from "../src/eval/runner.ts";
import { newParamState } from "../src/train/optimizer.ts";
import { GraphAdamW } from "../src/train/optimizer-graph.ts";
import type * as ort from "onnxruntime-node";
import { openSession, Tensor, type Provider } from "../src/eval/session.ts";
import { makeAttribute, valueInfoFor } from "../src/onnx/emit.ts";
import { benchMain, peakRssBytes } from "./lib.ts";

/**
 * What crosses between JavaScript and onnxruntime per fine-tuning step and per evaluation
 * window, and what moving it costs. onnxruntime-node has no CUDA IO binding: every session.run
 * takes its feeds from host memory and returns its fetches to host memory, so on the GPU each
 * step copies every trainable weight in and every gradient out. The bench runs pass-through
 * graphs with the exact feeds and fetches of a step (all trainable gpt2 weights in, one
 * same-shaped gradient each out, the token batch) and of a perplexity window (ids and labels
 * in, per-token losses out), with no compute: on the CPU that is the cost of creating and
 * reading the tensors; with PRUNEBENCH_PROVIDER=cuda it adds the host-device copies (that is
 * what bench/gpu.sh measures). Then the optimizer step fine-tuning runs after each training
 * step (the AdamW graph, src/train/optimizer-graph.ts: weights, both moments and gradients in,
 * new weights and moments out), and a plain JS copy of the step's weights as the reference.
 *
 * Environment: PRUNEBENCH_PROVIDER (cpu|cuda), PRUNEBENCH_TRANSFER_PRESET (gpt2|tiny),
 * PRUNEBENCH_TRAIN_BATCH (4), PRUNEBENCH_TRAIN_SEQ (128), PRUNEBENCH_PPL_BATCH (8),
 * PRUNEBENCH_PPL_SEQ_LEN (1024), PRUNEBENCH_TRANSFER_RUNS (5).
 */
interface Io {
  feeds: Record<string, ort.Tensor>;
  bytesIn: number;
  bytesOut: number;
}

function passThrough(inputs: Array<{ name: string; dims: number[]; type: number }>, outputs: Array<{ from: string; name: string; dims: number[]; cast?: number }>): ModelProto {
  const node = outputs.map((o, i) =>
    create(NodeProtoSchema, { name: `n${i}`, opType: o.cast ? "Cast" : "Identity", input: [o.from], output: [o.name], attribute: o.cast ? [makeAttribute("to", o.cast)] : [] }),
  );
  const graph = create(GraphProtoSchema, {
    name: "transfer",
    node,
    input: inputs.map((i) => valueInfoFor(i.name, { dtype: i.type, shape: i.dims })),
    output: outputs.map((o) => valueInfoFor(o.name, { dtype: o.cast ?? DataType.FLOAT, shape: o.dims })),
  });
  return create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: 17n })], graph, producerName: "prunebench-bench" });
}

function ids(batch: number, seq: number): ort.Tensor {
  return new Tensor("int64", BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt(i % 50257)), [batch, seq]);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(proto: ModelProto, io: () => Io, runs: number, provider: Provider) {
  // Graph optimizations off: they would drop the Identity nodes this bench is made of.
  const session = await openSession(proto, { provider, optimize: false });
  const feedMs: number[] = [];
  const runMs: number[] = [];
  const readMs: number[] = [];
  let bytes = { in: 0, out: 0 };
  try {
    for (let r = 0; r < runs + 1; r++) {
      let t = performance.now();
      const { feeds, bytesIn, bytesOut } = io();
      const fed = performance.now() - t;
      t = performance.now();
      const out = await session.run(feeds);
      const ran = performance.now() - t;
      t = performance.now();
      let check = 0;
      for (const v of Object.values(out)) check += Number((v.data as Float32Array)[0] ?? 0);
      const read = performance.now() - t;
      if (!Number.isFinite(check)) throw new Error("transfer bench: a fetched value is not finite");
      bytes = { in: bytesIn, out: bytesOut };
      if (r === 0) continue; // the first run allocates onnxruntime's buffers
      feedMs.push(fed);
      runMs.push(ran);
      readMs.push(read);
    }
  } finally {
    await session.release();
  }
  const run = median(runMs);
  return {
    bytesIn: bytes.in,
    bytesOut: bytes.out,
    feedMs: round(median(feedMs)),
    runMs: round(run),
    readMs: round(median(readMs)),
    gbPerSecond: round((bytes.in + bytes.out) / 1e9 / (run / 1000)),
    runsMs: runMs.map(round),
  };
}

export async function run(): Promise<Record<string, unknown>> {
  const env = process.env;
  const provider = env.PRUNEBENCH_PROVIDER === "cuda" ? "cuda" : "cpu";
  const preset = (env.PRUNEBENCH_TRANSFER_PRESET ?? "gpt2") as PresetName;
  const runs = Number(env.PRUNEBENCH_TRANSFER_RUNS ?? 5);
  const trainBatch = Number(env.PRUNEBENCH_TRAIN_BATCH ?? 4);
  const trainSeq = Number(env.PRUNEBENCH_TRAIN_SEQ ?? 128);
  const pplBatch = Number(env.PRUNEBENCH_PPL_BATCH ?? 8);
  const pplSeq = Number(env.PRUNEBENCH_PPL_SEQ_LEN ?? 1024);

  // The trainable weights of a fine-tuning step: every fp32 weight, a tied copy trained as its source.
  const params = builtWeightShapes({ family: "decoder", preset }).filter((w) => w.dataType === DataType.FLOAT && !w.tiedTo);
  const paramCount = params.reduce((a, p) => a + p.dims.reduce((x, y) => x * y, 1), 0);
  const values = params.map((p) => new Float32Array(p.dims.reduce((x, y) => x * y, 1)).fill(0.01));
  const trainGraph = passThrough(
    [...params.map((p) => ({ name: p.name, dims: p.dims, type: DataType.FLOAT })), { name: "input_ids", dims: [trainBatch, trainSeq], type: DataType.INT64 }, { name: "labels", dims: [trainBatch, trainSeq], type: DataType.INT64 }],
    [...params.map((p) => ({ from: p.name, name: `grad:${p.name}`, dims: p.dims })), { from: "labels", name: "nll", dims: [trainBatch, trainSeq], cast: DataType.FLOAT }],
  );
  const step = await measure(
    trainGraph,
    () => {
      const feeds: Record<string, ort.Tensor> = { input_ids: ids(trainBatch, trainSeq), labels: ids(trainBatch, trainSeq) };
      params.forEach((p, i) => (feeds[p.name] = new Tensor("float32", values[i]!, p.dims)));
      const tokens = trainBatch * trainSeq;
      return { feeds, bytesIn: paramCount * 4 + tokens * 16, bytesOut: paramCount * 4 + tokens * 4 };
    },
    runs,
    provider,
  );
  const windowGraph = passThrough(
    [
      { name: "input_ids", dims: [pplBatch, pplSeq], type: DataType.INT64 },
      { name: "labels", dims: [pplBatch, pplSeq], type: DataType.INT64 },
    ],
    [{ from: "labels", name: "nll", dims: [pplBatch, pplSeq], cast: DataType.FLOAT }],
  );
  const window = await measure(
    windowGraph,
    () => ({ feeds: { input_ids: ids(pplBatch, pplSeq), labels: ids(pplBatch, pplSeq) }, bytesIn: pplBatch * pplSeq * 16, bytesOut: pplBatch * pplSeq * 4 }),
    runs * 4,
    provider,
  );

  // References in the same run: copying the step's bytes in JS, and the JS AdamW step.
  const copyMs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    for (const v of values) new Float32Array(v.length).set(v);
    copyMs.push(performance.now() - t);
  }
  const states = params.map((p, i) => newParamState(p.name, Float32Array.from(values[i]!), p.dims.length > 1));
  const grads = [values.map((v, i) => new Tensor("float32", v, params[i]!.dims))];
  const adamw = await GraphAdamW.create(states, { weightDecay: 0.01, clipNorm: 1 }, { provider });
  const adamMs: number[] = [];
  try {
    for (let t = 1; t <= 4; t++) {
      const start = performance.now();
      await adamw.step(grads, 1e-4, t);
      if (t > 1) adamMs.push(performance.now() - start);
    }
  } finally {
    await adamw.release();
  }
  const created = await openSession(windowGraph, { provider });
  await created.release();
  return {
    model: `built ${preset} decoder: ${paramCount} trainable fp32 weights in ${params.length} tensors`,
    provider,
    runner: runnerFingerprint({ provider }),
    trainStep: { batch: trainBatch, seqLen: trainSeq, ...step },
    evalWindow: { batch: pplBatch, seqLen: pplSeq, ...window },
    optimizerStep: { bytesIn: paramCount * 16, bytesOut: paramCount * 12, runMs: round(median(adamMs)), runsMs: adamMs.map(round) },
    reference: { jsCopyOfStepWeightsMs: round(median(copyMs)) },
    stepRunVsJsCopy: round(step.runMs / median(copyMs)),
    peakRssBytes: peakRssBytes(),
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

benchMain(import.meta.url, run);
