/**
 * The model as training sees it: every fp16/bf16 value computed in fp32 (weights converted,
 * Casts and constants retyped, cache inputs and outputs declared fp32) and onnxruntime's fused
 * contrib ops written as plain ONNX ops (./defuse.ts), so the gradient rules apply. Training
 * runs on this view; its trained weights are written back into the original graph in the
 * original types (withWeights), so the tuned model is the export the user brought.
 */
import { create } from "@bufbuild/protobuf";
import { TensorProtoSchema, type AttributeProto, type GraphProto, type TensorProto } from "onnx-buf";
import { DataType } from "../onnx/dtype.ts";
import { OnnxFormatError } from "../onnx/errors.ts";
import { defaultOpsetEntry, isDefaultDomain } from "../onnx/emit.ts";
import { cloneModel } from "../onnx/graph.ts";
import { graphOf, type OnnxModel } from "../onnx/model.ts";
import { readFloat32 } from "../onnx/tensor.ts";
import { defuseContribOps } from "./defuse.ts";

const HALF = new Set<number>([DataType.FLOAT16, DataType.BFLOAT16]);

/** An fp32 copy of an fp16/bf16 tensor (initializer or attribute value). */
function widened(model: OnnxModel, t: TensorProto): TensorProto {
  const data = readFloat32(model, t).data;
  return create(TensorProtoSchema, { name: t.name, dims: [...t.dims], dataType: DataType.FLOAT, rawData: new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength) });
}

function widenAttribute(model: OnnxModel, a: AttributeProto): void {
  if (a.t && HALF.has(a.t.dataType)) a.t = widened(model, a.t);
  if (a.name === "to" && HALF.has(Number(a.i))) a.i = BigInt(DataType.FLOAT);
}

function widenGraph(model: OnnxModel, graph: GraphProto): void {
  graph.initializer = graph.initializer.map((t) => (HALF.has(t.dataType) ? widened(model, t) : t));
  for (const v of [...graph.input, ...graph.output]) {
    if (v.type?.value.case === "tensorType" && HALF.has(v.type.value.value.elemType)) v.type.value.value.elemType = DataType.FLOAT;
  }
  graph.valueInfo = [];
  for (const node of graph.node) {
    // Cast's `to`, Constant's and ConstantOfShape's `value`; subgraphs are left alone (exports
    // of the three families have none on the training path).
    for (const a of node.attribute) widenAttribute(model, a);
  }
}

/** Opsets whose default-domain ops read the same from `from` to 17 (the view's LayerNormalization needs 17). */
const CHANGED_BEFORE_13 = new Set(["Squeeze", "Unsqueeze", "ReduceSum", "Split", "Softmax", "LogSoftmax", "Hardmax"]);

function raiseOpset(model: OnnxModel, graph: GraphProto, to: number): void {
  const entry = defaultOpsetEntry(model.proto);
  const from = entry ? Number(entry.version) : 0;
  if (!entry || from >= to) return;
  if (from < 13) {
    const changed = graph.node.find((n) => isDefaultDomain(n.domain) && CHANGED_BEFORE_13.has(n.opType));
    if (changed) throw new OnnxFormatError(model.file, "opset_import", `ai.onnx opset ${from} is too old to train: its ${changed.opType} reads differently from opset 13 on (export with opset 13 or newer)`);
  }
  entry.version = BigInt(to);
}

export interface TrainingView {
  model: OnnxModel;
  /** The original type of each float initializer that the view widened to fp32. */
  widened: Map<string, number>;
  /** Contrib nodes written as plain ops, by op type. */
  defused: Map<string, number>;
  /** Float initializers that are tables, not weights (rotary cos/sin caches): never trained. */
  frozen: Set<string>;
}

/**
 * The fp32, plain-op view of a model for training (the model itself is not modified; fp32
 * weights are shared, fp16 ones converted once). Models that are fp32 with plain ops come back
 * as they are.
 */
export function trainingView(model: OnnxModel): TrainingView {
  const source = graphOf(model);
  const widenedTypes = new Map(source.initializer.filter((t) => HALF.has(t.dataType)).map((t) => [t.name, t.dataType]));
  const hasContrib = source.node.some((n) => n.domain === "com.microsoft" || n.opType === "SimplifiedLayerNormalization");
  const halfIo = [...source.input, ...source.output].some((v) => v.type?.value.case === "tensorType" && HALF.has(v.type.value.value.elemType));
  const halfOps = source.node.some((n) => n.attribute.some((a) => (a.t && HALF.has(a.t.dataType)) || (a.name === "to" && HALF.has(Number(a.i)))));
  const frozen = new Set(source.node.filter((n) => n.domain === "com.microsoft" && n.opType === "RotaryEmbedding").flatMap((n) => n.input.slice(2, 4)));
  if (!widenedTypes.size && !hasContrib && !halfIo && !halfOps) return { model, widened: widenedTypes, defused: new Map(), frozen };
  const view = cloneModel(model);
  const graph = graphOf(view);
  widenGraph(model, graph);
  let defused = new Map<string, number>();
  if (hasContrib) {
    raiseOpset(view, graph, 17);
    defused = defuseContribOps(view);
  }
  // The plain forms' own constants (0.5 of GELU, mask values, ...) are not weights either.
  const original = new Set(source.initializer.map((t) => t.name));
  for (const t of graph.initializer) if (!original.has(t.name)) frozen.add(t.name);
  return { model: view, widened: widenedTypes, defused, frozen };
}
