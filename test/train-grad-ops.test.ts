/** Each gradient rule against central finite differences, on tiny graphs. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildTrainingGraph, GradientError } from "../src/train/training-graph.ts";
import { gradCheck } from "../src/train/gradcheck.ts";
import { readFloat32 } from "../src/onnx/tensor.ts";
import { DataType } from "../src/onnx/dtype.ts";
import type * as ort from "onnxruntime-node";
import { floatTensor, int64Tensor, makeModel, randomTensor, withScalarLoss, type NodeSpec } from "./train-fixtures.ts";
import type { TensorProto } from "onnx-buf";

interface Case {
  name: string;
  nodes: NodeSpec[];
  params: TensorProto[];
  consts?: TensorProto[];
  y: string;
  yDims: number[];
  opset?: number;
  inputs?: { name: string; type: number; dims: number[] }[];
  feeds?: Record<string, ort.Tensor>;
}

const P = (name: string, dims: number[], seed: number, scale = 1, offset = 0) => randomTensor(name, dims, seed, scale, offset);
const positive = (name: string, dims: number[], seed: number) => P(name, dims, seed, 0.2, 1.5);

const cases: Case[] = [
  { name: "MatMul batched broadcast", nodes: [{ op: "MatMul", inputs: ["a", "b"], outputs: ["y"] }], params: [P("a", [2, 1, 3, 4], 1), P("b", [3, 4, 5], 2)], y: "y", yDims: [2, 3, 3, 5] },
  { name: "MatMul weight 2-D", nodes: [{ op: "MatMul", inputs: ["a", "b"], outputs: ["y"] }], params: [P("a", [2, 3, 4], 1), P("b", [4, 5], 2)], y: "y", yDims: [2, 3, 5] },
  { name: "Gemm", nodes: [{ op: "Gemm", inputs: ["a", "b", "c"], outputs: ["y"], attrs: { alpha: { float: 0.7 }, beta: { float: 1.3 } } }], params: [P("a", [3, 4], 1), P("b", [4, 5], 2), P("c", [5], 3)], y: "y", yDims: [3, 5] },
  { name: "Gemm transposed", nodes: [{ op: "Gemm", inputs: ["a", "b", "c"], outputs: ["y"], attrs: { transA: 1, transB: 1 } }], params: [P("a", [4, 3], 1), P("b", [5, 4], 2), P("c", [3, 1], 3)], y: "y", yDims: [3, 5] },
  { name: "Add broadcast", nodes: [{ op: "Add", inputs: ["a", "b"], outputs: ["y"] }], params: [P("a", [2, 3, 4], 1), P("b", [3, 1], 2)], y: "y", yDims: [2, 3, 4] },
  { name: "Sub", nodes: [{ op: "Sub", inputs: ["a", "b"], outputs: ["y"] }], params: [P("a", [2, 3], 1), P("b", [3], 2)], y: "y", yDims: [2, 3] },
  { name: "Mul", nodes: [{ op: "Mul", inputs: ["a", "b"], outputs: ["y"] }], params: [P("a", [2, 3], 1), P("b", [1, 3], 2)], y: "y", yDims: [2, 3] },
  { name: "Div", nodes: [{ op: "Div", inputs: ["a", "b"], outputs: ["y"] }], params: [P("a", [2, 3], 1), positive("b", [2, 1], 2)], y: "y", yDims: [2, 3] },
  { name: "Pow", nodes: [{ op: "Pow", inputs: ["a", "b"], outputs: ["y"] }], params: [positive("a", [2, 3], 1), P("b", [3], 2, 0.3, 1.5)], y: "y", yDims: [2, 3] },
  { name: "Pow constant exponent", nodes: [{ op: "Pow", inputs: ["a", "two"], outputs: ["y"] }], params: [P("a", [2, 3], 1)], consts: [floatTensor("two", [2], [])], y: "y", yDims: [2, 3] },
  { name: "Sqrt", nodes: [{ op: "Sqrt", inputs: ["a"], outputs: ["y"] }], params: [positive("a", [2, 3], 1)], y: "y", yDims: [2, 3] },
  { name: "Neg", nodes: [{ op: "Neg", inputs: ["a"], outputs: ["y"] }], params: [P("a", [4], 1)], y: "y", yDims: [4] },
  { name: "Relu", nodes: [{ op: "Relu", inputs: ["a"], outputs: ["y"] }], params: [P("a", [3, 4], 1)], y: "y", yDims: [3, 4] },
  { name: "Tanh", nodes: [{ op: "Tanh", inputs: ["a"], outputs: ["y"] }], params: [P("a", [3, 4], 1)], y: "y", yDims: [3, 4] },
  { name: "Erf", nodes: [{ op: "Erf", inputs: ["a"], outputs: ["y"] }], params: [P("a", [3, 4], 1)], y: "y", yDims: [3, 4] },
  { name: "Sigmoid, Exp, Log, Reciprocal", nodes: [{ op: "Sigmoid", inputs: ["a"], outputs: ["s"] }, { op: "Exp", inputs: ["s"], outputs: ["x"] }, { op: "Log", inputs: ["x"], outputs: ["l"] }, { op: "Reciprocal", inputs: ["x"], outputs: ["r"] }, { op: "Add", inputs: ["l", "r"], outputs: ["y"] }], params: [P("a", [3, 4], 1)], y: "y", yDims: [3, 4] },
  { name: "ReduceMean (opset 17 attribute)", nodes: [{ op: "ReduceMean", inputs: ["a"], outputs: ["y"], attrs: { axes: [1], keepdims: 0 } }], params: [P("a", [2, 3, 4], 1)], y: "y", yDims: [2, 4] },
  { name: "ReduceMean (opset 18 input)", nodes: [{ op: "ReduceMean", inputs: ["a", "ax"], outputs: ["y"], attrs: { keepdims: 1 } }], params: [P("a", [2, 3, 4], 1)], consts: [int64Tensor("ax", [-1])], y: "y", yDims: [2, 3, 1], opset: 18 },
  { name: "ReduceSum all axes", nodes: [{ op: "ReduceSum", inputs: ["a"], outputs: ["y"], attrs: { keepdims: 1 } }], params: [P("a", [2, 3], 1)], y: "y", yDims: [1, 1] },
  { name: "Softmax", nodes: [{ op: "Softmax", inputs: ["a"], outputs: ["y"], attrs: { axis: 1 } }], params: [P("a", [2, 5, 3], 1)], y: "y", yDims: [2, 5, 3] },
  { name: "LogSoftmax", nodes: [{ op: "LogSoftmax", inputs: ["a"], outputs: ["y"] }], params: [P("a", [2, 5], 1)], y: "y", yDims: [2, 5] },
  { name: "LayerNormalization", nodes: [{ op: "LayerNormalization", inputs: ["a", "s", "b"], outputs: ["y"], attrs: { axis: -1, epsilon: { float: 1e-5 } } }], params: [P("a", [2, 3, 6], 1), P("s", [6], 2, 0.3, 1), P("b", [6], 3)], y: "y", yDims: [2, 3, 6] },
  {
    name: "decomposed layer norm",
    nodes: [
      { op: "ReduceMean", inputs: ["a"], outputs: ["m"], attrs: { axes: [-1] } },
      { op: "Sub", inputs: ["a", "m"], outputs: ["c"] },
      { op: "Pow", inputs: ["c", "two"], outputs: ["c2"] },
      { op: "ReduceMean", inputs: ["c2"], outputs: ["v"], attrs: { axes: [-1] } },
      { op: "Add", inputs: ["v", "eps"], outputs: ["ve"] },
      { op: "Sqrt", inputs: ["ve"], outputs: ["sd"] },
      { op: "Div", inputs: ["c", "sd"], outputs: ["n"] },
      { op: "Mul", inputs: ["n", "s"], outputs: ["ns"] },
      { op: "Add", inputs: ["ns", "b"], outputs: ["y"] },
    ],
    params: [P("a", [3, 6], 1), P("s", [6], 2, 0.3, 1), P("b", [6], 3)],
    consts: [floatTensor("two", [2], []), floatTensor("eps", [1e-5], [])],
    y: "y",
    yDims: [3, 6],
  },
  { name: "Gather (embedding, repeated ids)", nodes: [{ op: "Gather", inputs: ["e", "ids"], outputs: ["y"] }], params: [P("e", [7, 4], 1)], consts: [int64Tensor("ids", [1, 3, 1, 6, -1, 0], [2, 3])], y: "y", yDims: [2, 3, 4] },
  { name: "GatherElements", nodes: [{ op: "GatherElements", inputs: ["a", "ix"], outputs: ["y"], attrs: { axis: 1 } }], params: [P("a", [2, 5], 1)], consts: [int64Tensor("ix", [0, 4, 4, 2, 1, 1], [2, 3])], y: "y", yDims: [2, 3] },
  { name: "Reshape, Transpose", nodes: [{ op: "Reshape", inputs: ["a", "sh"], outputs: ["r"] }, { op: "Transpose", inputs: ["r"], outputs: ["y"], attrs: { perm: [2, 0, 1] } }], params: [P("a", [2, 12], 1)], consts: [int64Tensor("sh", [2, 3, 4])], y: "y", yDims: [4, 2, 3] },
  { name: "Split (one output unused)", nodes: [{ op: "Split", inputs: ["a", "sizes"], outputs: ["p", "q", "r"], attrs: { axis: 1 } }, { op: "Mul", inputs: ["p", "r"], outputs: ["y"] }], params: [P("a", [2, 6], 1)], consts: [int64Tensor("sizes", [2, 2, 2])], y: "y", yDims: [2, 2] },
  { name: "Slice", nodes: [{ op: "Slice", inputs: ["a", "st", "en", "ax"], outputs: ["y"] }], params: [P("a", [3, 6], 1)], consts: [int64Tensor("st", [1, -4]), int64Tensor("en", [100, 5]), int64Tensor("ax", [0, 1])], y: "y", yDims: [2, 3] },
  { name: "Concat", nodes: [{ op: "Concat", inputs: ["a", "k", "b"], outputs: ["y"], attrs: { axis: 1 } }], params: [P("a", [2, 2], 1), P("b", [2, 3], 2)], consts: [floatTensor("k", [1, 2], [2, 1])], y: "y", yDims: [2, 6] },
  { name: "Unsqueeze, Squeeze", nodes: [{ op: "Unsqueeze", inputs: ["a", "ax"], outputs: ["u"] }, { op: "Squeeze", inputs: ["u", "ax"], outputs: ["y"] }], params: [P("a", [2, 3], 1)], consts: [int64Tensor("ax", [1])], y: "y", yDims: [2, 3] },
  { name: "Where", nodes: [{ op: "Greater", inputs: ["a", "b"], outputs: ["c"] }, { op: "Where", inputs: ["c", "a", "b"], outputs: ["y"] }], params: [P("a", [2, 3], 1), P("b", [3], 2)], y: "y", yDims: [2, 3] },
  { name: "Expand", nodes: [{ op: "Expand", inputs: ["a", "sh"], outputs: ["y"] }], params: [P("a", [3, 1], 1)], consts: [int64Tensor("sh", [2, 3, 4])], y: "y", yDims: [2, 3, 4] },
  { name: "Cast, Identity", nodes: [{ op: "Cast", inputs: ["a"], outputs: ["c"], attrs: { to: DataType.DOUBLE } }, { op: "Cast", inputs: ["c"], outputs: ["f"], attrs: { to: DataType.FLOAT } }, { op: "Identity", inputs: ["f"], outputs: ["y"] }], params: [P("a", [4], 1)], y: "y", yDims: [4] },
  {
    name: "causal mask path (Shape/Range/Trilu/ConstantOfShape/Where) carries no gradient",
    nodes: [
      { op: "Shape", inputs: ["a"], outputs: ["s"] },
      { op: "ConstantOfShape", inputs: ["s"], outputs: ["ones"], attrs: { value: floatTensor("v", [1], [1]) } },
      { op: "Trilu", inputs: ["ones"], outputs: ["tri"], attrs: { upper: 0 } },
      { op: "Cast", inputs: ["tri"], outputs: ["keep"], attrs: { to: DataType.BOOL } },
      { op: "Where", inputs: ["keep", "a", "neg"], outputs: ["masked"] },
      { op: "Softmax", inputs: ["masked"], outputs: ["y"] },
    ],
    params: [P("a", [4, 4], 1)],
    consts: [floatTensor("neg", [-1e4], [])],
    y: "y",
    yDims: [4, 4],
  },
  { name: "Trilu on a differentiable tensor", nodes: [{ op: "Trilu", inputs: ["a"], outputs: ["y"], attrs: { upper: 1 } }], params: [P("a", [3, 3], 1)], y: "y", yDims: [3, 3] },
];

for (const c of cases) {
  test(`gradient rule: ${c.name}`, async () => {
    const spec = withScalarLoss({ nodes: c.nodes, initializers: [...c.params, ...(c.consts ?? [])], inputs: c.inputs, opset: c.opset }, c.y, c.yDims);
    const model = makeModel(spec);
    const graph = await buildTrainingGraph({ model, loss: { kind: "scalar", output: "loss" }, feeds: c.feeds ?? {}, trainable: (n) => c.params.some((p) => p.name === n) });
    assert.deepEqual(graph.params.map((p) => p.name).sort(), c.params.map((p) => p.name).sort());
    const params = new Map(c.params.map((t) => [t.name, Float32Array.from(readFloat32(model, t).data)]));
    const results = await gradCheck({ graph, feeds: c.feeds ?? {}, params, eps: 1e-2, coordinates: 8 });
    for (const r of results) assert.ok(r.relError < 1e-2, `${c.name}: ${r.name} relative error ${r.relError} (analytic ${r.analytic}, numeric ${r.numeric})`);
  });
}

test("an op without a rule is a clear error naming op and node", async () => {
  const model = makeModel(withScalarLoss({ nodes: [{ op: "Sin", inputs: ["a"], outputs: ["y"] }], initializers: [P("a", [3], 1)] }, "y", [3]));
  await assert.rejects(buildTrainingGraph({ model, loss: { kind: "scalar", output: "loss" }, feeds: {}, trainable: (n) => n === "a" }), (e: Error) => {
    assert.ok(e instanceof GradientError);
    assert.match(e.message, /no gradient rule for op Sin at node "Sin_0"/);
    return true;
  });
});

test("a fused contrib op is a clear error", async () => {
  const model = makeModel(
    withScalarLoss({ nodes: [{ op: "FastGelu", domain: "com.microsoft", inputs: ["a"], outputs: ["y"] }], initializers: [P("a", [3], 1)] }, "y", [3]),
  );
  await assert.rejects(buildTrainingGraph({ model, loss: { kind: "scalar", output: "loss" }, feeds: {}, trainable: (n) => n === "a" }), /fused contrib op/);
});
