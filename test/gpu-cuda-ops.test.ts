import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { AttributeProto_AttributeType, AttributeProtoSchema, GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema } from "onnx-buf";
import { cudaKernelTable } from "../bench/gpu/cuda-ops.ts";
import { projectGraphOps } from "../bench/gpu/graphs.ts";
import { fallbacks, hasKernel, opKey, opUses, parseOpsetRange } from "../src/onnx/op-inventory.ts";

/**
 * Ops of the project's graphs that the CUDA provider has no kernel for (they run on the CPU,
 * with copies across the bus). Empty today; a change that adds one must list it here, on
 * purpose, with the reason.
 */
const KNOWN_FALLBACKS: string[] = [];

test("the kernel table is the CUDA section of onnxruntime's OperatorKernels.md, with its version and source", () => {
  const table = cudaKernelTable();
  assert.equal(table.provider, "CUDAExecutionProvider");
  assert.equal(table.onnxruntime, "1.29.0");
  assert.match(table.source, /^https:\/\/github\.com\/microsoft\/onnxruntime\/blob\/[0-9a-f]{40}\/docs\/OperatorKernels\.md$/);
  const onnx = table.domains["ai.onnx"]!;
  assert.ok(Object.keys(onnx).length > 140, "the ai.onnx domain is complete");
  for (const [domain, ops] of Object.entries(table.domains)) for (const [op, ranges] of Object.entries(ops)) for (const r of ranges) assert.doesNotThrow(() => parseOpsetRange(r), `${domain}:${op} ${r}`);
  // Ops the CUDA provider is known to lack in inference builds: the training losses.
  assert.equal(onnx.SoftmaxCrossEntropyLoss, undefined);
  assert.equal(onnx.NegativeLogLikelihoodLoss, undefined);
});

test("opset ranges decide whether a kernel exists at the model's opset", () => {
  const table = cudaKernelTable();
  assert.deepEqual(parseOpsetRange("13+"), [13, Infinity]);
  assert.deepEqual(parseOpsetRange("[6, 12]"), [6, 12]);
  assert.deepEqual(parseOpsetRange("9"), [9, 9]);
  assert.throws(() => parseOpsetRange("13-"), /cannot read the opset range/);
  assert.equal(hasKernel(table, { domain: "ai.onnx", opType: "MatMul", opset: 17 }), true);
  assert.equal(hasKernel(table, { domain: "ai.onnx", opType: "Upsample", opset: 9 }), true);
  // Upsample was deprecated in opset 10: the CUDA provider registers it for 7..9 only.
  assert.equal(hasKernel(table, { domain: "ai.onnx", opType: "Upsample", opset: 10 }), false);
  assert.equal(hasKernel(table, { domain: "ai.onnx", opType: "Gelu", opset: 17 }), false);
  assert.equal(hasKernel(table, { domain: "ai.onnx", opType: "Gelu", opset: 20 }), true);
  assert.equal(hasKernel(table, { domain: "ai.onnx", opType: "SoftmaxCrossEntropyLoss", opset: 17 }), false);
  assert.equal(hasKernel(table, { domain: "com.microsoft", opType: "FusedMatMul", opset: 1 }), true);
  assert.equal(hasKernel(table, { domain: "com.example", opType: "MatMul", opset: 1 }), false);
  // Constant nodes become initializers when onnxruntime resolves the graph.
  assert.equal(hasKernel(table, { domain: "ai.onnx", opType: "Constant", opset: 17 }), true);
});

test("opUses counts nodes per domain and opset, subgraphs included", () => {
  const node = (opType: string, domain = "") => create(NodeProtoSchema, { opType, domain, input: ["x"], output: [`${opType}_y`] });
  const branch = create(GraphProtoSchema, { node: [node("Relu"), node("Relu")] });
  const ifNode = create(NodeProtoSchema, {
    opType: "If",
    input: ["c"],
    output: ["z"],
    attribute: [create(AttributeProtoSchema, { name: "then_branch", type: AttributeProto_AttributeType.GRAPH, g: branch }), create(AttributeProtoSchema, { name: "else_branch", type: AttributeProto_AttributeType.GRAPH, g: create(GraphProtoSchema, { node: [node("Gelu", "com.microsoft")] }) })],
  });
  const model = create(ModelProtoSchema, {
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: 17n }), create(OperatorSetIdProtoSchema, { domain: "com.microsoft", version: 1n })],
    graph: create(GraphProtoSchema, { node: [node("MatMul"), ifNode, node("MatMul")] }),
  });
  assert.deepEqual(
    opUses(model).map((u) => `${opKey(u)} x${u.nodes}`),
    ["ai.onnx:If@17 x1", "ai.onnx:MatMul@17 x2", "ai.onnx:Relu@17 x2", "com.microsoft:Gelu@1 x1"],
  );
  const table = cudaKernelTable();
  const bad = create(ModelProtoSchema, { opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: 17n })], graph: create(GraphProtoSchema, { node: [node("SoftmaxCrossEntropyLoss"), node("Add")] }) });
  const found = fallbacks(table, [{ graph: "a loss", ops: opUses(bad) }]);
  assert.deepEqual(found.map((f) => [opKey(f), f.graphs]), [["ai.onnx:SoftmaxCrossEntropyLoss@17", ["a loss"]]]);
});

test("every op of the project's graphs has a CUDA kernel, except the known fallbacks", async () => {
  const graphs = await projectGraphOps();
  const names = graphs.map((g) => g.graph);
  for (const kind of ["inference", "loss graph", "calibration taps (sqnorm)", "calibration taps (hessian)", "training graph", "evaluation graph", "structured rewrite"]) {
    for (const family of ["decoder", "encoder", "encoder-decoder"]) assert.ok(names.includes(`${family}: ${kind}`), `${family}: ${kind} is listed`);
  }
  assert.ok(names.includes("optimizer: AdamW graph"), "the optimizer graph is listed");
  const ops = new Set(graphs.flatMap((g) => g.ops.map((u) => u.opType)));
  for (const op of ["MatMul", "LogSoftmax", "GatherElements", "ReduceSumSquare", "ScatterND"]) assert.ok(ops.has(op), `${op} is among the ops`);
  const found = fallbacks(cudaKernelTable(), graphs);
  const unknown = found.filter((f) => !KNOWN_FALLBACKS.includes(opKey(f)));
  assert.deepEqual(
    unknown.map((f) => `${opKey(f)} in ${f.graphs.join("; ")}`),
    [],
    "new ops without a CUDA kernel (they would run on the CPU): use another op, or add them to KNOWN_FALLBACKS with the reason",
  );
});
