/**
 * Every kind of graph the project hands to onnxruntime, built on the CPU at tiny sizes (the op
 * types do not depend on the sizes): per family the built inference model, its loss graph,
 * the calibration taps (Wanda's squared norms, SparseGPT's X^T X), the training and
 * evaluation graphs of fine-tuning, and a structured rewrite (heads and neurons removed); and
 * fine-tuning's AdamW graph (masked and unmasked parameters, two accumulated gradients).
 */
import type { ModelProto } from "onnx-buf";
import { addLossGraph } from "../../src/eval/loss-graph.ts";
import { buildModel } from "../../src/models/index.ts";
import { mapModel } from "../../src/models/index.ts";
import type { Family } from "../../src/models/types.ts";
import { cloneModel } from "../../src/onnx/graph.ts";
import { graphOf, type OnnxModel } from "../../src/onnx/model.ts";
import { opUses, type GraphOps } from "../../src/onnx/op-inventory.ts";
import { addCalibrationTaps } from "../../src/prune/calibrated/calibration.ts";
import { pruneStructured } from "../../src/prune/structured/index.ts";
import { randomBatch } from "../../src/train/batches.ts";
import { batchFeeds } from "../../src/train/feeds.ts";
import { Rng } from "../../src/train/rng.ts";
import { buildTrainingGraph } from "../../src/train/training-graph.ts";
import { buildOptimizerGraph } from "../../src/train/optimizer-graph.ts";
import { DataType } from "../../src/onnx/dtype.ts";
import { findLogitsOutput, logitsVocab } from "../../src/eval/loss-graph.ts";

export const FAMILIES: Family[] = ["decoder", "encoder", "encoder-decoder"];

export interface ProjectGraph {
  graph: string;
  proto: ModelProto;
}

/** The activations that MatMul weights read, with their widths (calibration's inputs). */
function matmulInputs(model: OnnxModel, limit = 4): Map<string, number> {
  const graph = graphOf(model);
  const inits = new Map(graph.initializer.map((t) => [t.name, t]));
  const out = new Map<string, number>();
  for (const node of graph.node) {
    const w = node.opType === "MatMul" ? inits.get(node.input[1]) : undefined;
    if (w && w.dims.length === 2 && !out.has(node.input[0])) out.set(node.input[0], Number(w.dims[0]));
    if (out.size >= limit) break;
  }
  return out;
}

/** Fine-tuning's training graph at batch 2 x 16, fed as finetune feeds it. */
async function trainingGraphs(model: OnnxModel, family: Family) {
  const vocab = logitsVocab(findLogitsOutput(model))!;
  const rng = new Rng(1);
  const tokens = Int32Array.from({ length: 512 }, () => rng.int(vocab));
  const sample = randomBatch(tokens, 2, { family, seqLen: 16, vocab }, new Rng(2));
  const graph = graphOf(model);
  const inputs = graph.input.map((i) => i.name).filter((n) => !graph.initializer.some((t) => t.name === n));
  const types = new Map<string, number>(graph.input.map((i) => [i.name, i.type?.value.case === "tensorType" ? i.type.value.value.elemType : DataType.INT64]));
  types.set("labels", DataType.INT64);
  return buildTrainingGraph({ model, loss: { kind: "lm", family }, feeds: batchFeeds(sample, [...inputs, "labels"], types) });
}

export async function projectGraphs(): Promise<ProjectGraph[]> {
  const out: ProjectGraph[] = [];
  for (const family of FAMILIES) {
    const model = buildModel({ family, preset: "tiny", seed: 0 });
    out.push({ graph: `${family}: inference`, proto: model.proto });
    out.push({ graph: `${family}: loss graph`, proto: addLossGraph(model, { family }).model.proto });
    const taps = matmulInputs(model);
    out.push({ graph: `${family}: calibration taps (sqnorm)`, proto: addCalibrationTaps(model, taps, "sqnorm").model.proto });
    out.push({ graph: `${family}: calibration taps (hessian)`, proto: addCalibrationTaps(model, taps, "hessian").model.proto });
    const training = await trainingGraphs(model, family);
    out.push({ graph: `${family}: training graph`, proto: training.train });
    out.push({ graph: `${family}: evaluation graph`, proto: training.evaluate });
    const structured = cloneModel(model);
    pruneStructured(structured, mapModel(structured), { heads: 0.5, neurons: 0.5 });
    out.push({ graph: `${family}: structured rewrite`, proto: structured.proto });
  }
  const optimizer = buildOptimizerGraph({
    params: [
      { name: "w", size: 64, decay: true, masked: true },
      { name: "b", size: 8, decay: false, masked: false },
    ],
    weightDecay: 0.01,
    clipNorm: 1,
    accumulate: 2,
  });
  out.push({ graph: "optimizer: AdamW graph", proto: optimizer.proto });
  return out;
}

export async function projectGraphOps(): Promise<GraphOps[]> {
  return (await projectGraphs()).map((g) => ({ graph: g.graph, ops: opUses(g.proto) }));
}
