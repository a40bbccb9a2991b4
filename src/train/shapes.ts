/**
 * Static shapes of every value of a graph, found by running it once at the training shape with
 * every intermediate value as an output. The training graph is built for one [batch, seq], so
 * what onnxruntime computes there is exact; it also gives the values of small integer tensors
 * (Slice bounds, Reduce axes, Split sizes) however the exporter computed them.
 */
import type { ModelProto } from "onnx-buf";
import { DataType } from "../onnx/dtype.ts";
import { valueInfoFor } from "../onnx/emit.ts";
import type * as ort from "onnxruntime-node";
import { openSession, type SessionOptions } from "../eval/session.ts";

const TYPES: Record<string, number> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  float16: DataType.FLOAT16,
  int64: DataType.INT64,
  int32: DataType.INT32,
  int16: DataType.INT16,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  uint16: DataType.UINT16,
  uint32: DataType.UINT32,
  uint64: DataType.UINT64,
  bool: DataType.BOOL,
  string: DataType.STRING,
};

/** The ONNX element type of an onnxruntime tensor. */
function onnxType(tensor: ort.Tensor): number {
  return TYPES[tensor.type] ?? DataType.UNDEFINED;
}

export interface ValueFacts {
  dims: number[];
  dataType: number;
  /** Values of integer tensors with at most 64 elements. */
  ints?: number[];
}

export async function tapShapes(proto: ModelProto, feeds: Record<string, ort.Tensor>, options: SessionOptions = {}): Promise<Map<string, ValueFacts>> {
  const graph = proto.graph!;
  const known = new Set(graph.output.map((o) => o.name));
  const extra = [];
  for (const node of graph.node) {
    for (const name of node.output) {
      if (!name || known.has(name)) continue;
      known.add(name);
      extra.push(valueInfoFor(name));
    }
  }
  const tapped: ModelProto = { ...proto, graph: { ...graph, output: [...graph.output, ...extra] } };
  const session = await openSession(tapped, { ...options, optimize: false });
  try {
    const results = await session.run(feeds);
    const facts = new Map<string, ValueFacts>();
    for (const [name, tensor] of Object.entries(results)) facts.set(name, describeTensor(tensor));
    for (const [name, tensor] of Object.entries(feeds)) facts.set(name, describeTensor(tensor));
    for (const tensor of Object.values(results)) tensor.dispose?.();
    return facts;
  } finally {
    await session.release();
  }
}

function describeTensor(tensor: ort.Tensor): ValueFacts {
  const facts: ValueFacts = { dims: tensor.dims.map(Number), dataType: onnxType(tensor) };
  if ((facts.dataType === DataType.INT64 || facts.dataType === DataType.INT32) && tensor.size <= 64) {
    facts.ints = Array.from(tensor.data as ArrayLike<number | bigint>, (v) => Number(v));
  }
  return facts;
}
