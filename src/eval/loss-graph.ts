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
import { create } from "@bufbuild/protobuf";
import {
  AttributeProto_AttributeType as AttributeType,
  AttributeProtoSchema,
  NodeProtoSchema,
  TensorProtoSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  ValueInfoProtoSchema,
  type NodeProto,
  type ValueInfoProto,
} from "onnx-buf";
import type { Family } from "../models/types.ts";
import { DataType } from "../onnx/dtype.ts";
import { OnnxFormatError } from "../onnx/errors.ts";
import { defaultOpset } from "../onnx/emit.ts";
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

  const p = "prunebench_loss/";
  const nodes: NodeProto[] = [];
  const node = (opType: string, input: string[], output: string[], attrs: Record<string, number> = {}) =>
    nodes.push(
      create(NodeProtoSchema, {
        name: `${p}${opType}_${nodes.length}`,
        opType,
        input,
        output,
        attribute: Object.entries(attrs).map(([name, i]) => create(AttributeProtoSchema, { name, type: AttributeType.INT, i: BigInt(i) })),
      }),
    );
  const axesAttr = (axes: number[]) => create(AttributeProtoSchema, { name: "axes", type: AttributeType.INTS, ints: axes.map(BigInt) });

  const constants = [
    scalarInt64(`${p}ignore`, IGNORE_INDEX),
    scalarInt64(`${p}zero_id`, 0),
    create(TensorProtoSchema, { name: `${p}zero`, dataType: DataType.FLOAT, dims: [], rawData: new Uint8Array(4) }),
    create(TensorProtoSchema, { name: `${p}axes`, dataType: DataType.INT64, dims: [1n], rawData: int64Bytes([-1]) }),
  ];

  // fp16 logits: LogSoftmax in fp16 loses the small probabilities that perplexity is made of.
  const elem = tensorType(logitsInfo)?.elemType ?? DataType.FLOAT;
  let source = logits;
  if (elem !== DataType.FLOAT) {
    node("Cast", [logits], [`${p}logits_f32`], { to: DataType.FLOAT });
    source = `${p}logits_f32`;
  }
  node("LogSoftmax", [source], [`${p}logp`], { axis: -1 });
  node("Equal", [labels, `${p}ignore`], [`${p}ignored`]);
  node("Where", [`${p}ignored`, `${p}zero_id`, labels], [`${p}safe`]);
  if (opset >= 13) node("Unsqueeze", [`${p}safe`, `${p}axes`], [`${p}index`]);
  else {
    node("Unsqueeze", [`${p}safe`], [`${p}index`]);
    nodes.at(-1)!.attribute.push(axesAttr([-1]));
  }
  node("GatherElements", [`${p}logp`, `${p}index`], [`${p}picked`], { axis: -1 });
  if (opset >= 13) node("Squeeze", [`${p}picked`, `${p}axes`], [`${p}logp_label`]);
  else {
    node("Squeeze", [`${p}picked`], [`${p}logp_label`]);
    nodes.at(-1)!.attribute.push(axesAttr([-1]));
  }
  node("Neg", [`${p}logp_label`], [`${p}nll_all`]);
  node("Where", [`${p}ignored`, `${p}zero`, `${p}nll_all`], [nll]);

  const dims = ["batch", "sequence"].map((d) => create(TensorShapeProto_DimensionSchema, { value: { case: "dimParam", value: d } }));
  const info = (name: string, elemType: number) =>
    create(ValueInfoProtoSchema, {
      name,
      type: create(TypeProtoSchema, {
        value: { case: "tensorType", value: create(TypeProto_TensorSchema, { elemType, shape: create(TensorShapeProtoSchema, { dim: dims }) }) },
      }),
    });

  const copy: OnnxModel = {
    file: model.file,
    dir: model.dir,
    proto: {
      ...model.proto,
      graph: {
        ...graph,
        node: [...graph.node, ...nodes],
        input: [...graph.input, info(labels, DataType.INT64)],
        output: [info(nll, DataType.FLOAT)],
        initializer: [...graph.initializer, ...constants],
      },
    },
  };
  return { model: copy, labels, nll, inputs: modelInputs(model), vocab: logitsVocab(logitsInfo) };
}

function int64Bytes(values: number[]): Uint8Array<ArrayBuffer> {
  return new Uint8Array(BigInt64Array.from(values, (v) => BigInt(v)).buffer);
}

function scalarInt64(name: string, value: number) {
  return create(TensorProtoSchema, { name, dataType: DataType.INT64, dims: [], rawData: int64Bytes([value]) });
}
