/** Small hand-built graphs for the training tests (not a test file itself). */
import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, type TensorProto } from "onnx-buf";
import type { OnnxModel } from "../src/onnx/model.ts";
import { floatTensor, int64Tensor, makeAttribute, valueInfoFor, type AttributeValue } from "../src/onnx/emit.ts";
import { Rng } from "../src/train/rng.ts";

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttributeValue>;
  domain?: string;
}

export interface GraphSpec {
  nodes: NodeSpec[];
  initializers: TensorProto[];
  inputs?: { name: string; type: number; dims: number[] }[];
  outputs: { name: string; dims: number[] }[];
  opset?: number;
}

export function makeModel(spec: GraphSpec, file = "test-graph.onnx"): OnnxModel {
  const graph = create(GraphProtoSchema, {
    name: "test",
    node: spec.nodes.map((n, i) =>
      create(NodeProtoSchema, {
        name: `${n.op}_${i}`,
        opType: n.op,
        domain: n.domain ?? "",
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => makeAttribute(k, v)),
      }),
    ),
    initializer: spec.initializers,
    input: (spec.inputs ?? []).map((i) => valueInfoFor(i.name, { dtype: i.type, shape: i.dims })),
    output: spec.outputs.map((o) => valueInfoFor(o.name, { dtype: 1, shape: o.dims })),
  });
  const opsets = [create(OperatorSetIdProtoSchema, { domain: "", version: BigInt(spec.opset ?? 17) })];
  if (spec.nodes.some((n) => n.domain === "com.microsoft")) opsets.push(create(OperatorSetIdProtoSchema, { domain: "com.microsoft", version: 1n }));
  const proto = create(ModelProtoSchema, { irVersion: 8n, opsetImport: opsets, graph, producerName: "prunebench-test" });
  return { file, dir: ".", proto };
}

export function randomTensor(name: string, dims: number[], seed: number, scale = 1, offset = 0): TensorProto {
  const rng = new Rng(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return floatTensor(name, Array.from({ length: n }, () => offset + scale * rng.normal()), dims);
}

export { floatTensor, int64Tensor };

/**
 * Wraps op nodes ending in `y` (shape `yDims`) in a non-trivial scalar loss:
 * loss = sum(y * R) + 0.5 * sum(y * y), R a fixed random tensor.
 */
export function withScalarLoss(spec: Omit<GraphSpec, "outputs">, y: string, yDims: number[], seed = 99): GraphSpec {
  return {
    ...spec,
    initializers: [...spec.initializers, randomTensor("R", yDims, seed), floatTensor("half", [0.5], [])],
    nodes: [
      ...spec.nodes,
      { op: "Mul", inputs: [y, "R"], outputs: ["yr"] },
      { op: "Mul", inputs: [y, y], outputs: ["yy"] },
      { op: "Mul", inputs: ["yy", "half"], outputs: ["yy2"] },
      { op: "Add", inputs: ["yr", "yy2"], outputs: ["terms"] },
      { op: "ReduceSum", inputs: ["terms"], outputs: ["loss"], attrs: { keepdims: 0 } },
    ],
    outputs: [{ name: "loss", dims: [] }],
  };
}
