import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema, NodeProtoSchema, TensorProtoSchema, ValueInfoProtoSchema, type GraphProto } from "onnx-buf";
import {
  DataType,
  OnnxFormatError,
  addDim,
  addInitializer,
  addNode,
  cloneModel,
  consumers,
  divDim,
  evaluateDim,
  graphOf,
  mulDim,
  producers,
  readFloat32,
  readModel,
  removeInitializer,
  replaceInitializer,
  setFloat32,
  subDim,
  topologicalOrder,
} from "../src/onnx/index.ts";
import { TORCH_EXPORT, skipWithoutShared } from "./helpers/shared-data.ts";

function chain(): GraphProto {
  const graph = create(GraphProtoSchema, { name: "g", input: [create(ValueInfoProtoSchema, { name: "x" })] });
  addNode(graph, { opType: "Relu", inputs: ["x"], outputs: ["a"], name: "first" });
  addNode(graph, { opType: "Add", inputs: ["a", "x"], outputs: ["b"], name: "second" });
  addNode(graph, { opType: "Mul", inputs: ["b", "a"], outputs: ["c"], name: "third" });
  return graph;
}

test("topological order puts producers first and keeps file order among ready nodes", () => {
  const graph = chain();
  graph.node.reverse();
  assert.deepEqual(topologicalOrder(graph).map((n) => n.name), ["first", "second", "third"]);
  assert.deepEqual(producers(graph).get("b")?.name, "second");
  assert.deepEqual(consumers(graph).get("a")?.map((n) => n.name).sort(), ["second", "third"]);
});

test("a cycle is an OnnxFormatError naming a node of it", () => {
  const graph = chain();
  graph.node[0].input = ["c"];
  assert.throws(() => topologicalOrder(graph, "m.onnx"), (e: unknown) => e instanceof OnnxFormatError && /m\.onnx: node "first" \(Relu\): is part of a cycle/.test(e.message));
});

test("an input nothing defines is named in the error", () => {
  const graph = chain();
  graph.node[1].input = ["a", "nowhere"];
  assert.throws(() => topologicalOrder(graph), /node "second" \(Add\): input "nowhere" is not a graph input/);
});

test("added nodes get fresh names and outputs", () => {
  const graph = chain();
  const a = addNode(graph, { opType: "Relu", inputs: ["c"], name: "first" });
  const b = addNode(graph, { opType: "Split", inputs: ["c"], count: 2 });
  assert.equal(a.name, "first_1");
  assert.equal(a.output.length, 1);
  assert.equal(b.output.length, 2);
  const names = graph.node.flatMap((n) => [n.name, ...n.output]);
  assert.equal(new Set(names).size, names.length);
});

test("a name is never handed out twice, even after edits by other means that keep the graph's counts", () => {
  const graph = chain();
  addNode(graph, { opType: "Relu", inputs: ["c"], name: "tap" });
  // Swap a node for another written by hand, with the allocator's next name as its output:
  // node, initializer, input and output counts all stay the same.
  graph.node[2] = create(NodeProtoSchema, { name: "by_hand", opType: "Mul", input: ["b", "a"], output: ["tap_1"] });
  const next = addNode(graph, { opType: "Relu", inputs: ["c"], name: "tap" });
  assert.notEqual(next.name, "tap_1");
  const names = graph.node.flatMap((n) => [n.name, ...n.output]);
  assert.equal(new Set(names).size, names.length, names.join(", "));
});

test("initializers: add refuses a used name, remove refuses one still read, replace keeps the position", () => {
  const graph = chain();
  const w = create(TensorProtoSchema, { name: "w", dataType: DataType.FLOAT, dims: [1n], rawData: new Uint8Array(4) });
  addInitializer(graph, w);
  assert.throws(() => addInitializer(graph, create(TensorProtoSchema, { name: "a" })), /already used/);
  addNode(graph, { opType: "Mul", inputs: ["c", "w"] });
  assert.throws(() => removeInitializer(graph, "w"), /still read by node/);
  const w2 = create(TensorProtoSchema, { name: "w", dataType: DataType.FLOAT, dims: [1n], rawData: new Uint8Array(4).fill(1) });
  assert.equal(replaceInitializer(graph, w2), w);
  assert.equal(graph.initializer[0], w2);
  graph.node.pop();
  removeInitializer(graph, "w");
  assert.equal(graph.initializer.length, 0);
  assert.throws(() => replaceInitializer(graph, w), /does not exist/);
});

test("a cloned model shares weight bytes but edits to its graph and tensors leave the original alone", { skip: skipWithoutShared(TORCH_EXPORT.gpt2) }, () => {
  const model = readModel(TORCH_EXPORT.gpt2);
  const before = graphOf(model).node.length;
  const copy = cloneModel(model);
  const original = graphOf(model).initializer.find((t) => t.name === "transformer.wte.weight")!;
  const cloned = graphOf(copy).initializer.find((t) => t.name === "transformer.wte.weight")!;
  assert.notEqual(cloned, original);
  assert.equal(cloned.rawData.buffer, original.rawData.buffer, "bytes are shared, not copied");
  addNode(graphOf(copy), { opType: "Identity", inputs: ["logits"] });
  const values = readFloat32(copy, cloned).data.slice();
  values.fill(0);
  setFloat32(cloned, values);
  assert.equal(graphOf(model).node.length, before);
  assert.notEqual(readFloat32(model, original).data[0], 0);
  assert.equal(readFloat32(copy, cloned).data[0], 0);
});

test("symbolic dimensions simplify and evaluate", () => {
  assert.equal(mulDim("batch", 4), "batch*4");
  assert.equal(divDim(mulDim(mulDim("batch", "sequence"), 64), mulDim("sequence", 16)), "batch*4");
  assert.equal(subDim(addDim("past", "sequence"), "sequence"), "past");
  assert.equal(evaluateDim(addDim(mulDim("batch", 4), subDim("sequence", 1)), { batch: 2, sequence: 5 }), 12);
  assert.equal(evaluateDim("(a+b)/2", { a: 3, b: 5 }), 4);
  assert.equal(evaluateDim("unbound*2", {}), undefined);
  assert.equal(evaluateDim("2+", {}), undefined);
});
