import type { NodeProto } from "onnx-buf";
import { isFloatType } from "../../onnx/dtype.ts";
import type { MatrixLayout } from "../types.ts";
import { attrInt, initializerOf, isActivation, type GraphIndex } from "./graph.ts";

/** A matrix product with a weight: x @ W (+ b), however the exporter spelled it. */
export interface Linear {
  node: NodeProto;
  weight: string;
  layout: MatrixLayout;
  /** The bias initializer, when one is added to the product (Add, Gemm's C, fused ops). */
  bias?: string;
  /** The activation multiplied by the weight. */
  input: string;
  /** The product, after the bias when the bias is a separate Add. */
  output: string;
  inDim: number;
  outDim: number;
  /** A com.microsoft Attention node: its weight is q, k and v packed as [d, 3d]. */
  fused?: "attention";
}

const LAYOUT_PASSTHROUGH = new Set(["Reshape", "Cast", "Identity"]);

export function findLinears(index: GraphIndex): Linear[] {
  const out: Linear[] = [];
  for (const node of index.nodes) {
    const linear = asLinear(index, node);
    if (linear) out.push(linear);
  }
  return out;
}

function weightMatrix(index: GraphIndex, name: string): string | undefined {
  const init = initializerOf(index, name);
  if (!init || !isFloatType(init.dataType)) return undefined;
  return index.shapes.get(init.name)?.length === 2 ? init.name : undefined;
}

function asLinear(index: GraphIndex, node: NodeProto): Linear | undefined {
  if (node.opType === "MatMul" && isActivation(index, node.input[0])) {
    let weight = weightMatrix(index, node.input[1]);
    let layout: MatrixLayout = "in_out";
    if (!weight) {
      // A tied head written as MatMul(x, Transpose(table)) keeps one copy of the table.
      const t = index.producer.get(node.input[1]);
      const perm = t?.attribute.find((a) => a.name === "perm")?.ints.map(Number);
      if (t?.opType === "Transpose" && (!perm || (perm[0] === 1 && perm[1] === 0))) weight = weightMatrix(index, t.input[0]);
      layout = "out_in";
    }
    if (!weight) return undefined;
    const shape = index.shapes.get(weight)!;
    const [inDim, outDim] = layout === "in_out" ? shape : [shape[1], shape[0]];
    return withBias(index, { node, weight, layout, input: node.input[0], output: node.output[0], inDim, outDim });
  }
  if (node.opType === "Gemm" && isActivation(index, node.input[0])) {
    const weight = weightMatrix(index, node.input[1]);
    if (!weight) return undefined;
    const layout: MatrixLayout = attrInt(node, "transB") ? "out_in" : "in_out";
    const shape = index.shapes.get(weight)!;
    const [inDim, outDim] = layout === "in_out" ? shape : [shape[1], shape[0]];
    const bias = node.input[2] ? initializerOf(index, node.input[2])?.name : undefined;
    return { node, weight, layout, bias, input: node.input[0], output: node.output[0], inDim, outDim };
  }
  if (node.opType === "Attention" && node.domain === "com.microsoft") {
    const weight = weightMatrix(index, node.input[1]);
    if (!weight) return undefined;
    const [inDim, outDim] = index.shapes.get(weight)!;
    const bias = node.input[2] ? initializerOf(index, node.input[2])?.name : undefined;
    return { node, weight, layout: "in_out", bias, input: node.input[0], output: node.output[0], inDim, outDim, fused: "attention" };
  }
  return undefined;
}

/** Follows the product to the bias added to it: MatMul -> [Reshape] -> Add(bias), or a fused op's bias input. */
function withBias(index: GraphIndex, linear: Linear): Linear {
  let tensor = linear.output;
  for (let hop = 0; hop < 3; hop++) {
    const readers = index.consumers.get(tensor) ?? [];
    if (readers.length !== 1) return linear;
    const reader = readers[0];
    if (reader.opType === "Add") {
      const other = reader.input[0] === tensor ? reader.input[1] : reader.input[0];
      const init = initializerOf(index, other);
      if (init && isFloatType(init.dataType) && countOf(index, init.name) === linear.outDim) {
        return { ...linear, bias: init.name, output: reader.output[0] };
      }
      return linear;
    }
    if ((reader.opType === "FastGelu" || reader.opType === "BiasGelu") && reader.input[0] === tensor && reader.input[1]) {
      const init = initializerOf(index, reader.input[1]);
      return init ? { ...linear, bias: init.name } : linear;
    }
    // onnxruntime may pass one merged zero vector as both the norm's shift and the bias: then it is the shift.
    if (reader.opType.startsWith("Skip") && reader.opType.endsWith("LayerNormalization") && reader.input[4] && reader.input[4] !== reader.input[3]) {
      const init = initializerOf(index, reader.input[4]);
      return init ? { ...linear, bias: init.name } : linear;
    }
    if (!LAYOUT_PASSTHROUGH.has(reader.opType)) return linear;
    tensor = reader.output[0];
  }
  return linear;
}

function countOf(index: GraphIndex, name: string): number {
  return (index.shapes.get(name) ?? []).reduce((a, b) => a * b, 1);
}
