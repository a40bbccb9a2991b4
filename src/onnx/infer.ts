import {
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type TypeProto,
  type ValueInfoProto,
} from "onnx-buf";
import { DataType, dataTypeName } from "./dtype.ts";
import { OnnxFormatError } from "./errors.ts";
import { graphOf, type OnnxModel } from "./model.ts";
import { addGraphOutputs, cloneModel, describe, topologicalOrder } from "./graph.ts";
import { defaultOpsetEntry, valueInfoFor } from "./emit.ts";
import { readFloat32, readIntegers, tensorShape } from "./tensor.ts";
import { evaluateDim, type Dim } from "./dims.ts";
import { OPS, UnknownInput, type InferContext, type Known } from "./infer-ops.ts";

export type { Dim, Known };
export { evaluateDim };

/** A value's element type and shape; `shape` is undefined when not even the rank is known. */
export interface ValueType {
  dtype: number;
  shape?: Dim[];
}

export interface InferOptions {
  /** Override graph input types (for instance fixed sizes instead of "batch"). */
  inputs?: Record<string, ValueType>;
}

export interface InferResult {
  types: Map<string, ValueType>;
  /** Small integer tensors whose values are known ahead of a run (shapes computed by Shape/Gather/Concat...). */
  known: Map<string, Known>;
  /** Nodes whose op has no rule here (contrib ops, ...): their outputs have no type. */
  unsupported: NodeProto[];
}

/** Largest tensor whose values are tracked for shape computations. */
const MAX_KNOWN_ELEMENTS = 1024;

/**
 * Infers every value's dtype and (symbolic) shape through the graph, in topological order,
 * from the graph inputs' declared types and the initializers. Sizes unknown ahead of a run
 * stay symbolic ("batch", "sequence+past"); a size that cannot be derived gets a fresh name
 * ("unk__3"), as onnx's own shape inference does.
 */
export function inferTypes(model: OnnxModel, options: InferOptions = {}): InferResult {
  const graph = graphOf(model);
  const opset = defaultOpsetEntry(model.proto)?.version ?? 1n;
  const types = new Map<string, ValueType>();
  const known = new Map<string, Known>();
  for (const input of graph.input) {
    const type = options.inputs?.[input.name] ?? typeFromValueInfo(input);
    if (type) types.set(input.name, type);
  }
  for (const tensor of graph.initializer) {
    const shape = tensorShape(model, tensor);
    types.set(tensor.name, { dtype: tensor.dataType, shape });
    const values = tensorValues(model, tensor, shape);
    if (values) known.set(tensor.name, values);
  }
  let unknownCount = 0;
  const context: InferContext = {
    opset: Number(opset),
    file: model.file,
    typeOf: (name) => (name ? types.get(name) : undefined),
    knownOf: (name) => (name ? known.get(name) : undefined),
    fresh: () => `unk__${unknownCount++}`,
    tensorValues: (tensor) => tensorValues(model, tensor, tensorShape(model, tensor)),
  };
  const unsupported: NodeProto[] = [];
  for (const node of topologicalOrder(graph, model.file)) {
    const rule = OPS[node.domain === "ai.onnx" ? node.opType : node.domain ? `${node.domain}:${node.opType}` : node.opType];
    if (!rule) {
      unsupported.push(node);
      continue;
    }
    let result;
    try {
      result = rule(node, context);
    } catch (error) {
      if (error instanceof UnknownInput) continue;
      if (error instanceof OnnxFormatError) throw error;
      throw new OnnxFormatError(model.file, `node ${describe(node)}`, `type inference failed: ${(error as Error).message}`);
    }
    result.forEach((r, i) => {
      const name = node.output[i];
      if (!name || !r) return;
      types.set(name, { dtype: r.dtype, shape: r.shape });
      if (r.known && r.known.values.length <= MAX_KNOWN_ELEMENTS) known.set(name, r.known);
    });
  }
  return { types, known, unsupported };
}

function tensorValues(model: OnnxModel, tensor: TensorProto, shape: number[]): Known | undefined {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n > MAX_KNOWN_ELEMENTS) return undefined;
  switch (tensor.dataType) {
    case DataType.INT64:
    case DataType.INT32:
      return { shape, values: readIntegers(model, tensor) };
    case DataType.FLOAT:
    case DataType.FLOAT16:
    case DataType.DOUBLE:
      return { shape, values: Array.from(readFloat32(model, tensor).data) };
    case DataType.BOOL:
    case DataType.UINT8:
    case DataType.INT8:
      return { shape, values: Array.from(tensor.rawData.length ? tensor.rawData : tensor.int32Data) };
    default:
      return undefined;
  }
}

export function typeFromValueInfo(info: ValueInfoProto): ValueType | undefined {
  return typeFromProto(info.type);
}

function typeFromProto(type: TypeProto | undefined): ValueType | undefined {
  if (type?.value.case !== "tensorType") return undefined;
  const t = type.value.value;
  if (!t.shape) return { dtype: t.elemType };
  return {
    dtype: t.elemType,
    shape: t.shape.dim.map((d, i) => (d.value.case === "dimValue" ? Number(d.value.value) : d.value.case === "dimParam" ? d.value.value : `unk_dim_${i}`)),
  };
}

/**
 * ValueInfoProtos for taps: each named value's inferred type, or an OnnxFormatError naming
 * the value when inference could not type it (an op without a rule upstream).
 */
export function tapInfos(model: OnnxModel, names: readonly string[], inferred = inferTypes(model)): ValueInfoProto[] {
  return names.map((name) => {
    const type = inferred.types.get(name);
    if (!type) throw new OnnxFormatError(model.file, `value ${JSON.stringify(name)}`, "has no inferred type (it comes from an op type inference does not know)");
    return valueInfoFor(name, type);
  });
}

/**
 * A copy of the model (weights shared, see cloneModel) whose graph also outputs the named
 * intermediate values, typed by inference, so one onnxruntime run returns them.
 */
export function tapModel(model: OnnxModel, names: readonly string[], inferred = inferTypes(model)): OnnxModel {
  const copy = cloneModel(model);
  addGraphOutputs(graphOf(copy), tapInfos(model, names, inferred), model.file);
  return copy;
}

/** Writes inferred types into graph.value_info for values that have none yet (inputs, outputs and initializers excluded). */
export function annotateValueInfo(graph: GraphProto, inferred: InferResult): number {
  const skip = new Set([...graph.input, ...graph.output, ...graph.valueInfo].map((v) => v.name));
  for (const t of graph.initializer) skip.add(t.name);
  let added = 0;
  for (const node of graph.node) {
    for (const name of node.output) {
      const type = inferred.types.get(name);
      if (!name || skip.has(name) || !type) continue;
      graph.valueInfo.push(valueInfoFor(name, type));
      skip.add(name);
      added++;
    }
  }
  return added;
}

export function formatType(type: ValueType): string {
  return `${dataTypeName(type.dtype)}[${type.shape ? type.shape.join(",") : "?"}]`;
}
