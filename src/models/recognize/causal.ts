import type { TensorProto } from "onnx-buf";
import { isFloatType, DataType } from "../../onnx/dtype.ts";
import type { OnnxModel } from "../../onnx/model.ts";
import { readFloat32, tensorBytes } from "../../onnx/tensor.ts";
import { attrInt, type GraphIndex } from "./graph.ts";

/**
 * Whether attention is causal (a decoder). Signs, any one enough: a Trilu (torch's causal mask
 * at opset 14), a lower-triangular mask buffer (older GPT-2 exports, prunebench's builders), a
 * fused Attention with unidirectional=1, or past key/value inputs (only autoregressive
 * decoders carry a KV cache).
 */
export function detectCausal(index: GraphIndex): { causal: boolean; reason: string } {
  if (index.nodes.some((n) => n.opType === "Trilu")) return { causal: true, reason: "a Trilu builds a causal mask" };
  if (index.nodes.some((n) => n.opType === "Attention" && attrInt(n, "unidirectional") === 1)) return { causal: true, reason: "Attention is unidirectional" };
  if (index.nodes.some((n) => n.opType === "GroupQueryAttention")) return { causal: true, reason: "GroupQueryAttention is causal" };
  if ([...index.graphInputs].some((i) => /past/i.test(i))) return { causal: true, reason: "the graph takes past key/values" };
  for (const t of index.graph.initializer) {
    if (isCausalMaskBuffer(index.model, t, index.shapes.get(t.name)!)) return { causal: true, reason: `${t.name} is a lower-triangular mask` };
  }
  return { causal: false, reason: "no causal mask found" };
}

const MAX_MASK = 4096;

export function isCausalMaskBuffer(model: OnnxModel, t: TensorProto, shape: number[]): boolean {
  if (shape.length < 2) return false;
  const n = shape[shape.length - 1];
  if (n < 2 || n > MAX_MASK || shape[shape.length - 2] !== n || shape.slice(0, -2).some((d) => d !== 1)) return false;
  let values: ArrayLike<number>;
  if (t.dataType === DataType.BOOL || t.dataType === DataType.UINT8) values = tensorBytes(model, t);
  // A square float matrix is usually a weight; only [1, 1, n, n] float buffers are masks.
  else if (isFloatType(t.dataType) && shape.length > 2) values = readFloat32(model, t).data;
  else return false;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      const v = values[r * n + c];
      if (c <= r ? v !== 1 : v !== 0) return false;
    }
  }
  return true;
}
