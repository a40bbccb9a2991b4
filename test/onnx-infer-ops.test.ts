import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import * as ort from "onnxruntime-node";
import { GraphProtoSchema, OperatorSetIdProtoSchema, TensorProtoSchema, type GraphProto } from "onnx-buf";
import { DataType, ModelProtoSchema, addNode, makeAttribute, evaluateDim, formatType, graphOf, inferTypes, tapModel, valueInfoFor, type OnnxModel } from "../src/onnx/index.ts";

function ints(graph: GraphProto, name: string, values: number[]): string {
  graph.initializer.push(create(TensorProtoSchema, { name, dataType: DataType.INT64, dims: [BigInt(values.length)], rawData: new Uint8Array(BigInt64Array.from(values, BigInt).buffer) }));
  return name;
}

function floats(graph: GraphProto, name: string, dims: number[], values: number[]): string {
  graph.initializer.push(create(TensorProtoSchema, { name, dataType: DataType.FLOAT, dims: dims.map(BigInt), rawData: new Uint8Array(Float32Array.from(values).buffer) }));
  return name;
}

/** One graph with every op of the inference rules in the forms exporters use (opset 18: axes as inputs, Split num_outputs). */
function opsModel(): OnnxModel {
  const graph = create(GraphProtoSchema, { name: "ops", input: [valueInfoFor("x", { dtype: DataType.FLOAT, shape: ["b", "s", 4] })] });
  const op = (opType: string, inputs: string[], attributes?: Record<string, number | number[]>, count = 1) => addNode(graph, { opType, inputs, attributes, count, name: opType }).output;
  const [r1] = op("ReduceSum", ["x", ints(graph, "axes1", [1])]);
  op("ReduceMean", ["x", ints(graph, "axes_last", [-1])], { keepdims: 0 });
  op("ReduceMax", ["x"], { keepdims: 0 });
  op("Split", ["x"], { axis: 2, num_outputs: 2 }, 2);
  op("Split", ["x", ints(graph, "sizes", [1, 3])], { axis: -1 }, 2);
  const [sq] = op("Squeeze", [r1, ints(graph, "axes_sq", [1])]);
  op("Slice", ["x", ints(graph, "st", [-1]), ints(graph, "en", [-(2 ** 40)]), ints(graph, "ax", [1]), ints(graph, "sp", [-1])]);
  op("Slice", ["x", ints(graph, "st2", [1]), ints(graph, "en2", [2 ** 40]), ints(graph, "ax2", [1])]);
  op("Slice", ["x", ints(graph, "st3", [0]), ints(graph, "en3", [-1]), ints(graph, "ax3", [-2])]);
  op("Gemm", [sq, floats(graph, "gw", [5, 4], Array.from({ length: 20 }, (_, i) => i / 10))], { transB: 1 });
  op("LayerNormalization", ["x", floats(graph, "ls", [4], [1, 2, 3, 4]), floats(graph, "lb", [4], [0, 0, 1, 1])], { axis: -1 }, 3);
  const [same] = op("Equal", ["x", "x"]);
  const [notSame] = op("Not", [same]);
  const [zeros] = op("Cast", [notSame], { to: DataType.INT64 });
  op("GatherElements", ["x", zeros], { axis: 1 });
  const [shape] = op("Shape", ["x"]);
  const [s] = op("Gather", [shape, ints(graph, "one", [1])], { axis: 0 });
  const [seq] = op("Squeeze", [s]);
  const [range] = op("Range", [addNode(graph, { opType: "Constant", inputs: [], attributes: { value_int: 0 } }).output[0], seq, addNode(graph, { opType: "Constant", inputs: [], attributes: { value_int: 1 } }).output[0]]);
  const [batch] = op("Slice", [shape, ints(graph, "z", [0]), ints(graph, "o", [1])]);
  const [target] = op("Concat", [batch, ints(graph, "two", [2])], { axis: 0 });
  op("ConstantOfShape", [target]);
  const [rowShape] = op("Concat", [batch, s], { axis: 0 });
  const [row] = op("Unsqueeze", [range, ints(graph, "axes0", [0])]);
  op("Expand", [row, rowShape]);
  const [flat] = op("Reshape", ["x", ints(graph, "flat", [0, -1])]);
  op("Trilu", [flat]);
  const constant = addNode(graph, { opType: "Constant", inputs: [] });
  constant.attribute = [makeAttribute("value_float", { float: 0 })];
  const [zero] = constant.output;
  op("Where", [same, "x", zero]);
  const [xt] = op("Transpose", ["x"], { perm: [0, 2, 1] });
  const [scores] = op("MatMul", ["x", xt]);
  op("Softmax", [scores], { axis: -1 });
  op("LogSoftmax", [scores], { axis: -1 });
  op("MatMul", ["x", floats(graph, "vec", [4], [1, 2, 3, 4])]);
  op("Transpose", ["x"]);
  op("Concat", ["x", "x"], { axis: 1 });
  op("Unsqueeze", ["x", ints(graph, "axes_u", [0, -1])]);
  op("Cast", ["x"], { to: DataType.INT32 });
  const [sqr] = op("Mul", ["x", "x"]);
  op("Sqrt", [sqr]);
  op("Pow", ["x", floats(graph, "p2", [], [2])]);
  op("Div", [op("Sub", [op("Erf", ["x"])[0], op("Tanh", ["x"])[0]])[0], op("Add", [op("Relu", ["x"])[0], floats(graph, "one_f", [1], [1])])[0]]);
  op("Less", ["x", zero]);
  op("Identity", ["x"]);
  op("Gather", ["x", ints(graph, "rows", [0, 0, 1])], { axis: 2 });
  graph.output.push(valueInfoFor(seq, { dtype: DataType.INT64, shape: [] }));
  const proto = create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { version: 18n })], graph });
  return { file: "ops.onnx", dir: ".", proto };
}

const ORT_TYPES: Record<string, number> = { float32: DataType.FLOAT, int64: DataType.INT64, int32: DataType.INT32, bool: DataType.BOOL };

test("every op rule, in the forms exporters use, infers what onnxruntime computes", async () => {
  const model = opsModel();
  const inferred = inferTypes(model);
  assert.deepEqual(inferred.unsupported, []);
  const values = graphOf(model).node.flatMap((n) => n.output);
  const session = await ort.InferenceSession.create(toBinary(ModelProtoSchema, tapModel(model, values, inferred).proto), { logSeverityLevel: 3 });
  const bindings = { b: 2, s: 3 };
  const outputs = await session.run({ x: new ort.Tensor("float32", Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)), [2, 3, 4]) });
  await session.release();
  for (const name of values) {
    const type = inferred.types.get(name)!;
    const actual = outputs[name];
    const where = `${name}: onnxruntime ${actual.type}[${actual.dims.join(",")}], inferred ${formatType(type)}`;
    assert.equal(ORT_TYPES[actual.type], type.dtype, where);
    assert.deepEqual(type.shape!.map((d) => evaluateDim(d, bindings)), [...actual.dims], where);
  }
  assert.deepEqual(inferred.known.get(graphOf(model).output[0].name)?.values, ["s"], "sizes computed from Shape stay symbolic values");
});
