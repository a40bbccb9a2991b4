import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import * as ort from "onnxruntime-node";
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, type GraphProto, type NodeProto, type TensorProto } from "onnx-buf";
import { AttributeType, DataType, Emitter, addNode, floatTensor, namesOf, valueInfoFor } from "../src/onnx/index.ts";

/** y = relu(x) with names an emitter prefixed "p/" would pick first. */
function graphWithPrefixedNames(): GraphProto {
  const graph = create(GraphProtoSchema, { name: "g", input: [valueInfoFor("x", { dtype: DataType.FLOAT, shape: [2] })], output: [valueInfoFor("y", { dtype: DataType.FLOAT, shape: [2] })] });
  graph.node.push(create(NodeProtoSchema, { name: "p/Mul", opType: "Relu", input: ["x"], output: ["p/Mul_output_0"] }));
  graph.node.push(create(NodeProtoSchema, { name: "p/Identity", opType: "Identity", input: ["p/Mul_output_0"], output: ["y"] }));
  graph.initializer.push(floatTensor("p/const", [1], []));
  return graph;
}

/** Every node, output, initializer and graph input/output name, with repeats. */
function allNames(graph: GraphProto, extra: { node: NodeProto[]; initializer: TensorProto[] } = { node: [], initializer: [] }): string[] {
  const nodes = [...graph.node, ...extra.node];
  return [...nodes.flatMap((n) => [n.name, ...n.output]), ...[...graph.initializer, ...extra.initializer].map((t) => t.name), ...graph.input.map((v) => v.name)];
}

function assertUnique(names: string[]): void {
  const repeated = names.filter((n, i) => names.indexOf(n) !== i);
  assert.deepEqual(repeated, [], `names used twice: ${repeated.join(", ")}`);
}

test("emitted names carry the prefix and never take a name the graph already uses", () => {
  const graph = graphWithPrefixedNames();
  const before = new Set(allNames(graph));
  const e = new Emitter(graph, { prefix: "p/", opset: 17 });
  const y = e.mul("x", e.scalar(2));
  const [a, b] = e.node("Split", [y], { axis: 0 }, 2);
  const made = [...graph.node.slice(2).flatMap((n) => [n.name, ...n.output]), ...graph.initializer.slice(1).map((t) => t.name)];
  assert.equal(made.length, 6, made.join(", "));
  for (const name of made) {
    assert.ok(name.startsWith("p/"), `${name} starts with the prefix`);
    assert.ok(!before.has(name), `${name} was already used`);
  }
  assert.deepEqual([a, b].map((n) => n.startsWith("p/Split")), [true, true]);
  assertUnique(allNames(graph));
});

test("names stay unique when the graph is edited by other means between emits", () => {
  const graph = graphWithPrefixedNames();
  const e = new Emitter(graph, { prefix: "p/", opset: 17 });
  e.op("Relu", ["x"]);
  // By hand, the names the emitter would make next: a new node, and an initializer swapped in
  // for another so that no list changes length.
  graph.node.push(create(NodeProtoSchema, { name: "p/Relu_1", opType: "Relu", input: ["x"], output: ["p/Relu_1_output_0"] }));
  graph.initializer[0] = floatTensor("p/const_1", [3], []);
  const second = e.op("Relu", ["x"]);
  const constant = e.scalar(5);
  assert.notEqual(second, "p/Relu_1_output_0");
  assert.notEqual(constant, "p/const_1");
  // addNode and a second emitter over the same graph draw from the same names.
  addNode(graph, { opType: "Relu", inputs: ["x"], name: "p/Relu" });
  new Emitter(graph, { prefix: "p/" }).op("Relu", ["x"]);
  assertUnique(allNames(graph));
});

test("an emitter writing separate lists avoids the graph's names and its own", () => {
  const graph = graphWithPrefixedNames();
  const into = { node: [] as NodeProto[], initializer: [] as TensorProto[] };
  const e = new Emitter(graph, { prefix: "p/", opset: 17, into });
  for (let i = 0; i < 3; i++) e.mul("x", e.scalar(i));
  assert.equal(graph.node.length, 2, "the graph itself is not written");
  assert.equal(into.node.length, 3);
  assert.equal(into.initializer.length, 3);
  // Something emitted later straight into the graph does not take the listed names either.
  addNode(graph, { opType: "Mul", inputs: ["x", "x"], name: "p/Mul_1" });
  assertUnique(allNames(graph, into));
  // The allocator remembers names handed out even before any node carries them.
  assert.notEqual(namesOf(graph).fresh("p/Mul_2"), "p/Mul_2");
});

test("constants are shared between uses; tensors are not", () => {
  const graph = create(GraphProtoSchema, { name: "g" });
  const e = new Emitter(graph, { prefix: "c/" });
  assert.equal(e.scalar(0.5), e.scalar(0.5));
  assert.notEqual(e.scalar(0.5), e.scalar(0.5, [1]));
  assert.equal(e.ints([1, 2]), e.ints([1, 2]));
  assert.notEqual(e.int(1), e.ints([1]));
  assert.notEqual(e.double(1), e.scalar(1));
  assert.notEqual(e.tensor("t", DataType.INT64, [1]), e.tensor("t", DataType.INT64, [1]));
  assert.deepEqual(
    graph.initializer.map((t) => [t.dataType, t.dims.map(Number)]),
    [
      [DataType.FLOAT, []],
      [DataType.FLOAT, [1]],
      [DataType.INT64, [2]],
      [DataType.INT64, []],
      [DataType.INT64, [1]],
      [DataType.DOUBLE, []],
      [DataType.FLOAT, []],
      [DataType.INT64, [1]],
      [DataType.INT64, [1]],
    ],
  );
});

test("axes are an input or an attribute as the opset has them, and onnxruntime runs both forms", async () => {
  for (const opset of [12, 13, 17, 18]) {
    const graph = create(GraphProtoSchema, { name: "g", input: [valueInfoFor("x", { dtype: DataType.FLOAT, shape: [2, 3] })] });
    const e = new Emitter(graph, { opset });
    const sum = e.reduceSum("x", [1], false);
    const squares = e.withAxes("ReduceSumSquare", "x", [0], { keepdims: 0 });
    const sumNode = graph.node.find((n) => n.opType === "ReduceSum")!;
    const squareNode = graph.node.find((n) => n.opType === "ReduceSumSquare")!;
    assert.equal(sumNode.input.length, opset >= 13 ? 2 : 1, `ReduceSum at opset ${opset}`);
    assert.equal(squareNode.input.length, opset >= 18 ? 2 : 1, `ReduceSumSquare at opset ${opset}`);
    assert.equal(squareNode.attribute.find((a) => a.name === "axes")?.type, opset >= 18 ? undefined : AttributeType.INTS);
    graph.output.push(valueInfoFor(sum, { dtype: DataType.FLOAT, shape: [2] }), valueInfoFor(squares, { dtype: DataType.FLOAT, shape: [3] }));
    const model = create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: BigInt(opset) })], graph });
    const session = await ort.InferenceSession.create(toBinary(ModelProtoSchema, model), { logSeverityLevel: 3 });
    const out = await session.run({ x: new ort.Tensor("float32", Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]) });
    assert.deepEqual(Array.from(out[sum].data as Float32Array), [6, 15]);
    assert.deepEqual(Array.from(out[squares].data as Float32Array), [17, 29, 45]);
    await session.release();
  }
});

test("an op whose form depends on the opset is refused without one", () => {
  const e = new Emitter(create(GraphProtoSchema, { name: "g" }));
  assert.throws(() => e.reduceSum("x", [0], true), /no opset was given/);
});
