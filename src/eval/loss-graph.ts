/**
 * The in-graph loss: a copy of a model whose graph ends in per-token negative log-likelihood,
 * so that only [batch, seq] losses leave onnxruntime, never [batch, seq, vocab] logits
 * (GPT-2's logits for one 1024-token window are 200 MB of fp32; copying them into JavaScript
 * would cost more than the forward pass).
 *
 * Label convention, the same for every family: `labels[b, t]` is the target of the logits at
 * position t, or -100 (IGNORE_INDEX, as PyTorch's cross_entropy) for "not scored". A decoder's
 * caller therefore shifts: labels[t] = input_ids[t + 1]. The `nll` output is -log p(label) at
 * scored positions and exactly 0 at ignored ones; counts are the number of labels != -100.
 */
import type { GraphProto, ValueInfoProto } from "onnx-buf";
import type { Family } from "../models/types.ts";
import { DataType } from "../onnx/dtype.ts";
import { OnnxFormatError } from "../onnx/errors.ts";
import { defaultOpset, Emitter, valueInfoFor } from "../onnx/emit.ts";
import { graphOf, type OnnxModel } from "../onnx/model.ts";

export const IGNORE_INDEX: number = -100;

export interface LossGraphOptions {
  family: Family;
  /** The graph output holding [batch, seq, vocab] logits; found by name or shape when left out. */
  logits?: string;
  /** Name of the new int64 [batch, seq] input (default "labels"). */
  labels?: string;
  /** Name of the new fp32 [batch, seq] output (default "nll"). */
  nll?: string;
}

export interface LossGraph {
  /** A new OnnxModel sharing every initializer (and its bytes) with the original. */
  model: OnnxModel;
  labels: string;
  nll: string;
  /** The inputs the original model needs, in graph order (labels excluded). */
  inputs: string[];
  /** Vocabulary size read from the logits' static last dimension, when it has one. */
  vocab: number | null;
}

const LOGITS_NAMES = ["logits", "prediction_scores", "lm_logits"];

/** Picks the logits output: a known name, else the only rank-3 float output. */
export function findLogitsOutput(model: OnnxModel, wanted?: string): ValueInfoProto {
  const graph = graphOf(model);
  if (wanted) {
    const found = graph.output.find((o) => o.name === wanted);
    if (!found) {
      throw new OnnxFormatError(model.file, "graph.output", `has no output ${JSON.stringify(wanted)} (outputs: ${graph.output.map((o) => o.name).join(", ")})`);
    }
    return found;
  }
  for (const name of LOGITS_NAMES) {
    const found = graph.output.find((o) => o.name === name);
    if (found) return found;
  }
  const rank3 = graph.output.filter((o) => tensorType(o)?.shape?.dim.length === 3);
  if (rank3.length === 1) return rank3[0]!;
  throw new OnnxFormatError(
    model.file,
    "graph.output",
    `no logits output found (looked for ${LOGITS_NAMES.join(", ")} or a single rank-3 output; outputs: ${graph.output.map((o) => o.name).join(", ")})`,
  );
}

function tensorType(info: ValueInfoProto) {
  return info.type?.value.case === "tensorType" ? info.type.value.value : undefined;
}

/** Static vocabulary size of a logits output, or null when the dimension is symbolic. */
export function logitsVocab(info: ValueInfoProto): number | null {
  const last = tensorType(info)?.shape?.dim.at(-1);
  return last?.value.case === "dimValue" ? Number(last.value.value) : null;
}

const EXPECTED_INPUTS: Record<Family, string[]> = {
  decoder: ["input_ids"],
  encoder: ["input_ids"],
  "encoder-decoder": ["input_ids", "decoder_input_ids"],
};

/** The model's real inputs (initializers listed as inputs by old exporters excluded). */
export function modelInputs(model: OnnxModel): string[] {
  const graph = graphOf(model);
  const init = new Set(graph.initializer.map((t) => t.name));
  return graph.input.map((i) => i.name).filter((n) => !init.has(n));
}

/** Throws a clear error when the model lacks the inputs its family is evaluated with. */
export function checkFamilyInputs(model: OnnxModel, family: Family): void {
  const have = modelInputs(model);
  const missing = EXPECTED_INPUTS[family].filter((n) => !have.includes(n));
  if (missing.length) {
    throw new OnnxFormatError(
      model.file,
      "graph.input",
      `a ${family} model needs input${missing.length > 1 ? "s" : ""} ${missing.join(", ")}; this one has ${have.join(", ") || "none"}`,
    );
  }
}

/**
 * Returns a copy of `model` with an int64 `labels` input and an fp32 `nll` output computed by
 * LogSoftmax -> GatherElements, replacing the graph's outputs. The copy shares initializers by
 * reference, so no weight bytes are duplicated in memory.
 */
export function addLossGraph(model: OnnxModel, options: LossGraphOptions): LossGraph {
  const graph = graphOf(model);
  checkFamilyInputs(model, options.family);
  const opset = defaultOpset(model.proto);
  if (opset < 11) {
    throw new OnnxFormatError(model.file, "opset_import", `ai.onnx opset ${opset} is too old for the loss graph (GatherElements needs 11)`);
  }
  const logitsInfo = findLogitsOutput(model, options.logits);
  const logits = logitsInfo.name;
  const labels = options.labels ?? "labels";
  const nll = options.nll ?? "nll";
  const taken = new Set([...graph.input.map((i) => i.name), ...graph.node.flatMap((n) => n.output), ...graph.initializer.map((t) => t.name)]);
  for (const name of [labels, nll]) {
    if (taken.has(name)) throw new OnnxFormatError(model.file, "graph", `already has a value named ${JSON.stringify(name)}; choose another name for the loss graph`);
  }

  // The copy shares initializers by reference; its node and value lists are its own.
  const symbolic = (name: string, dtype: DataType) => valueInfoFor(name, { dtype, shape: ["batch", "sequence"] });
  const copyGraph: GraphProto = { ...graph, node: [...graph.node], input: [...graph.input, symbolic(labels, DataType.INT64)], output: [symbolic(nll, DataType.FLOAT)], initializer: [...graph.initializer] };
  const e = new Emitter(copyGraph, { prefix: "prunebench_loss/", opset });
  // fp16 logits: LogSoftmax in fp16 loses the small probabilities that perplexity is made of.
  const elem = tensorType(logitsInfo)?.elemType ?? DataType.FLOAT;
  const logp = e.op("LogSoftmax", [elem === DataType.FLOAT ? logits : e.op("Cast", [logits], { to: DataType.FLOAT })], { axis: -1 });
  const ignored = e.op("Equal", [labels, e.int(IGNORE_INDEX)]);
  const safe = e.op("Where", [ignored, e.int(0), labels]);
  const picked = e.op("GatherElements", [logp, e.withAxes("Unsqueeze", safe, [-1])], { axis: -1 });
  const nllAll = e.op("Neg", [e.withAxes("Squeeze", picked, [-1])]);
  e.add({ opType: "Where", inputs: [ignored, e.scalar(0), nllAll], outputs: [nll] });

  const copy: OnnxModel = { file: model.file, dir: model.dir, proto: { ...model.proto, graph: copyGraph } };
  return { model: copy, labels, nll, inputs: modelInputs(model), vocab: logitsVocab(logitsInfo) };
}
