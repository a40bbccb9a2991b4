import type { NodeProto } from "onnx-buf";
import { isFloatType } from "../../onnx/dtype.ts";
import { backwardNodes, initializerOf, isActivation, type GraphIndex } from "./graph.ts";

export interface NormParam {
  name: string;
  role: "norm_scale" | "norm_bias";
  /** The first node (in graph order) that reads it. */
  node: NodeProto;
}

/** Fused normalization ops and the input slots of their scale and shift. */
const FUSED_NORMS: Record<string, { scale: number; bias?: number }> = {
  LayerNormalization: { scale: 1, bias: 2 },
  SimplifiedLayerNormalization: { scale: 1 },
  RMSNormalization: { scale: 1 },
  SkipLayerNormalization: { scale: 2, bias: 3 },
  SkipSimplifiedLayerNormalization: { scale: 2 },
  EmbedLayerNormalization: { scale: 5, bias: 6 },
};

const STATISTICS = new Set(["ReduceMean", "Sqrt", "Reciprocal", "Rsqrt", "ReduceL2", "ReduceSumSquare"]);

export function isNormOp(node: NodeProto): boolean {
  return node.opType in FUSED_NORMS;
}

/**
 * Finds layer-norm parameters, fused or decomposed. Decomposed: the scale multiplies a value
 * computed from a mean or a square root nearby (torch: (x-mean)/sqrt(var+eps)*w+b; TF/keras:
 * x*(w*rsqrt(var+eps)) + (b - mean*w*rsqrt(...))); the shift is added to (or has subtracted
 * from it) a value computed from the scale.
 */
export function findNormParams(index: GraphIndex, taken: Set<string>): NormParam[] {
  const found = new Map<string, NormParam>();
  const add = (name: string | undefined, role: NormParam["role"], node: NodeProto) => {
    if (!name || taken.has(name) || found.has(name)) return;
    const init = index.initializers.get(name);
    if (!init || !isFloatType(init.dataType)) return;
    found.set(name, { name, role, node });
  };
  for (const node of index.nodes) {
    const fused = FUSED_NORMS[node.opType];
    if (fused) {
      add(initializerOf(index, node.input[fused.scale] ?? "")?.name, "norm_scale", node);
      if (fused.bias !== undefined) add(initializerOf(index, node.input[fused.bias] ?? "")?.name, "norm_bias", node);
    }
  }
  const scaleNodes = new Set<NodeProto>();
  for (const node of index.nodes) {
    if (node.opType !== "Mul") continue;
    const w = vectorParam(index, node);
    if (!w) continue;
    const other = node.input[0] === w.input ? node.input[1] : node.input[0];
    if (!isActivation(index, other)) continue;
    const near = backwardNodes(index, other, () => true, 6);
    if (near.some((n) => STATISTICS.has(n.opType))) {
      add(w.name, "norm_scale", node);
      scaleNodes.add(node);
    }
  }
  for (const node of index.nodes) {
    if (node.opType !== "Add" && node.opType !== "Sub") continue;
    const b = vectorParam(index, node);
    if (!b || found.has(b.name)) continue;
    const other = node.input[0] === b.input ? node.input[1] : node.input[0];
    if (!isActivation(index, other)) continue;
    const near = backwardNodes(index, other, () => true, 4);
    if (near.some((n) => scaleNodes.has(n))) add(b.name, "norm_bias", node);
  }
  return [...found.values()];
}

function vectorParam(index: GraphIndex, node: NodeProto): { name: string; input: string } | undefined {
  for (const input of node.input) {
    const init = input ? initializerOf(index, input) : undefined;
    if (!init || !isFloatType(init.dataType)) continue;
    const shape = index.shapes.get(init.name)!;
    const count = shape.reduce((a, b) => a * b, 1);
    if (count > 1 && shape.filter((d) => d > 1).length === 1) return { name: init.name, input };
  }
  return undefined;
}

/** Whether a tensor is the normalized output of a norm (not a fused op's residual sum). */
export function isNormOutput(index: GraphIndex, tensor: string, normNodes: Set<NodeProto>): boolean {
  const p = index.producer.get(tensor);
  if (!p) return false;
  if (isNormOp(p)) return p.output[0] === tensor;
  if (normNodes.has(p)) return true;
  return backwardNodes(index, tensor, (n) => !isNormOp(n), 3).some((n) => normNodes.has(n));
}
