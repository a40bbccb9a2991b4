import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema } from "onnx-buf";
import * as ort from "onnxruntime-node";
import { buildModel, mapModel } from "../src/models/index.ts";
import type { OnnxModel } from "../src/onnx/index.ts";
import { pruneStructured } from "../src/prune/structured/index.ts";
import { benchMain, peakRssBytes, timed } from "./lib.ts";

/**
 * A built GPT-2 (124M, 12 layers of 12 heads, d 768, dFF 3072) with half its heads and half its
 * MLP neurons removed by structured pruning: parameter count, and CPU latency of one forward
 * pass (batch 1 x 128 tokens, median of 10 after 2 warm-ups) against the dense model. The
 * token table (38.6M) and positions stay, so the parameter count falls by less than half.
 * Measured on the 2-core CI machine kind (shared): 124,439,808 -> 81,940,224 parameters
 * (exactly the 42,499,584 of 6 heads and 1536 neurons in each of 12 layers), 1015 -> 663 ms
 * per forward pass, speedup 1.53x (the untouched 768 x 50257 LM head is a large share).
 */
const SEQ = 128;
const RUNS = 10;

async function latency(model: OnnxModel): Promise<{ medianMs: number; runsMs: number[] }> {
  const session = await ort.InferenceSession.create(toBinary(ModelProtoSchema, model.proto), { logSeverityLevel: 3, graphOptimizationLevel: "all" });
  const ids = new ort.Tensor("int64", BigInt64Array.from({ length: SEQ }, (_, i) => BigInt((i * 7919) % 50257)), [1, SEQ]);
  const mask = new ort.Tensor("int64", new BigInt64Array(SEQ).fill(1n), [1, SEQ]);
  const runsMs: number[] = [];
  for (let i = 0; i < RUNS + 2; i++) {
    const start = performance.now();
    await session.run({ input_ids: ids, attention_mask: mask });
    if (i >= 2) runsMs.push(performance.now() - start);
  }
  await session.release();
  const sorted = [...runsMs].sort((a, b) => a - b);
  return { medianMs: sorted[Math.floor(sorted.length / 2)], runsMs };
}

export async function run(): Promise<Record<string, unknown>> {
  const model = buildModel({ family: "decoder", preset: "gpt2", seed: 0 });
  const dense = await latency(model);
  const map = mapModel(model);
  const { value: result, seconds } = await timed(() => pruneStructured(model, map, { heads: 0.5, neurons: 0.5 }));
  const pruned = await latency(model);
  return {
    model: "built gpt2 (124M)",
    tokens: SEQ,
    pruneSeconds: seconds,
    paramsDense: result.paramsBefore,
    paramsPruned: result.paramsAfter,
    paramsRatio: result.paramsAfter / result.paramsBefore,
    headsKeptPerLayer: result.blocks.find((b) => b.block === "attention")?.kept.length,
    neuronsKeptPerLayer: result.blocks.find((b) => b.block === "mlp")?.kept.length,
    denseMedianMs: dense.medianMs,
    prunedMedianMs: pruned.medianMs,
    speedup: dense.medianMs / pruned.medianMs,
    peakRssBytes: peakRssBytes(),
  };
}

benchMain(import.meta.url, run);
