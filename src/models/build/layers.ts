import { DataType } from "../../onnx/dtype.ts";
import type { GraphBuilder } from "./graph-builder.ts";

/** torch.finfo(torch.float32).min: what Hugging Face adds to masked attention scores. */
export const MASK_VALUE = -3.4028234663852886e38;
export const INIT_STD = 0.02;

/** LayerNorm as torch exports it below opset 17: (x - mean) / sqrt(var + eps) * w + b. */
export function layerNorm(b: GraphBuilder, x: string, prefix: string, d: number, eps: number): string {
  const w = b.weight(`${prefix}.weight`, [d], { kind: "ones" });
  const bias = b.weight(`${prefix}.bias`, [d], { kind: "zeros" });
  return b.scope(prefix.split(".").pop()!, () => {
    const mean = b.op1("ReduceMean", [x], { axes: [-1], keepdims: 1 });
    const centered = b.op1("Sub", [x, mean]);
    const variance = b.op1("ReduceMean", [b.op1("Pow", [centered, b.constFloat(2)])], { axes: [-1], keepdims: 1 });
    const std = b.op1("Sqrt", [b.op1("Add", [variance, b.constFloat(eps)])]);
    const normed = b.op1("Div", [centered, std]);
    return b.op1("Add", [b.op1("Mul", [normed, w]), bias]);
  });
}

/**
 * nn.Linear as optimum's export leaves it: constant folding stores W^T as an [in, out]
 * initializer named onnx::MatMul_NNN; the bias keeps its name.
 */
export function foldedLinear(b: GraphBuilder, x: string, biasName: string, inDim: number, outDim: number, std = INIT_STD): string {
  const w = b.weight(b.foldedName(), [inDim, outDim], { kind: "normal", std });
  const bias = b.weight(biasName, [outDim], { kind: "zeros" });
  return b.op1("Add", [bias, b.op1("MatMul", [x, w])]);
}

/** GPT-2's Conv1D: weight [in, out] under its own name. */
export function conv1d(b: GraphBuilder, x: string, prefix: string, inDim: number, outDim: number, std = INIT_STD): string {
  const w = b.weight(`${prefix}.weight`, [inDim, outDim], { kind: "normal", std });
  const bias = b.weight(`${prefix}.bias`, [outDim], { kind: "zeros" });
  return b.op1("Add", [b.op1("MatMul", [x, w]), bias]);
}

/** [B, S] 0/1 attention_mask to an additive [B, 1, 1, S] mask, as HF's get_extended_attention_mask. */
export function paddingMask(b: GraphBuilder, attentionMask: string): string {
  return b.scope("mask", () => {
    const m = b.op1("Cast", [b.op1("Unsqueeze", [attentionMask, b.constInt([1, 2])])], { to: DataType.FLOAT });
    return b.op1("Mul", [b.op1("Sub", [b.constFloat(1), m]), b.constFloat(MASK_VALUE)]);
  });
}

/** Length of axis 1 of a [B, S] input (or another axis: 2 of a [B, H, P, dh] cache), as a scalar and as a 1-element vector. */
export function sequenceLength(b: GraphBuilder, ids: string, axis = 1): { scalar: string; vector: string } {
  const scalar = b.op1("Gather", [b.op1("Shape", [ids]), b.constInt([axis], true)], { axis: 0 });
  return { scalar, vector: b.op1("Unsqueeze", [scalar, b.constInt([0])]) };
}

/** Gathers rows 0..S-1 of a position table (P..P+S-1 after a past of P tokens). */
export function positions(b: GraphBuilder, table: string, length: { scalar: string }, past?: { scalar: string }): string {
  const start = past ? past.scalar : b.constInt([0], true);
  const end = past ? b.op1("Add", [past.scalar, length.scalar]) : length.scalar;
  const range = b.op1("Range", [start, end, b.constInt([1], true)]);
  return b.op1("Gather", [table, range], { axis: 0 });
}

/**
 * The [1, 1, S, S] corner of a lower-triangular mask buffer; after a past of P tokens, rows
 * P..P+S-1 and columns 0..P+S-1 (HF's bias[:, :, key_length - query_length : key_length, :key_length]).
 */
export function causalMask(b: GraphBuilder, buffer: string, length: { vector: string }, past?: { vector: string }): string {
  return b.scope("causal", () => {
    if (!past) {
      const ends = b.op1("Concat", [length.vector, length.vector], { axis: 0 });
      return b.op1("Slice", [buffer, b.constInt([0, 0]), ends, b.constInt([2, 3])]);
    }
    const total = b.op1("Add", [past.vector, length.vector]);
    const starts = b.op1("Concat", [past.vector, b.constInt([0])], { axis: 0 });
    const ends = b.op1("Concat", [total, total], { axis: 0 });
    return b.op1("Slice", [buffer, starts, ends, b.constInt([2, 3])]);
  });
}

export interface AttentionCore {
  /** A KV cache: the past [B, H, P, dh] key and value, and the names of the present outputs (past and new concatenated). */
  cache?: { pastKey: string; pastValue: string; presentKey: string; presentValue: string };
  heads: number;
  dModel: number;
  /** Divide scores by sqrt(head size) (GPT-2, BERT); Pegasus scales q instead. */
  scaleScores: boolean;
  causal?: string;
  padding?: string;
}

/** softmax(q k^T [/ sqrt(dh)] [causal] [+ mask]) v, heads split and merged with Reshape/Transpose. */
export function attentionCore(b: GraphBuilder, q: string, k: string, v: string, core: AttentionCore): string {
  const dh = core.dModel / core.heads;
  const split = b.constInt([0, 0, core.heads, dh]);
  const heads = (x: string, perm: number[]) => b.op1("Transpose", [b.op1("Reshape", [x, split])], { perm });
  const qh = heads(q, [0, 2, 1, 3]);
  let kt: string;
  let vh: string;
  if (core.cache) {
    const c = core.cache;
    const [key] = b.op("Concat", [c.pastKey, heads(k, [0, 2, 1, 3])], { axis: 2 }, 1, [c.presentKey]);
    [vh] = b.op("Concat", [c.pastValue, heads(v, [0, 2, 1, 3])], { axis: 2 }, 1, [c.presentValue]);
    kt = b.op1("Transpose", [key], { perm: [0, 1, 3, 2] });
  } else {
    kt = heads(k, [0, 2, 3, 1]);
    vh = heads(v, [0, 2, 1, 3]);
  }
  let scores = b.op1("MatMul", [qh, kt]);
  if (core.scaleScores) scores = b.op1("Div", [scores, b.constFloat(Math.sqrt(dh))]);
  if (core.causal) scores = b.op1("Where", [core.causal, scores, b.constFloat(MASK_VALUE)]);
  if (core.padding) scores = b.op1("Add", [scores, core.padding]);
  const probs = b.op1("Softmax", [scores], { axis: -1 });
  const context = b.op1("Transpose", [b.op1("MatMul", [probs, vh])], { perm: [0, 2, 1, 3] });
  return b.op1("Reshape", [context, b.constInt([0, 0, core.dModel])]);
}

/** GELU with erf (BERT's "gelu"). */
export function geluErf(b: GraphBuilder, x: string): string {
  const cdf = b.op1("Add", [b.op1("Erf", [b.op1("Div", [x, b.constFloat(Math.SQRT2)])]), b.constFloat(1)]);
  return b.op1("Mul", [b.op1("Mul", [x, cdf]), b.constFloat(0.5)]);
}

/** GPT-2's gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function geluTanh(b: GraphBuilder, x: string): string {
  const cube = b.op1("Mul", [b.op1("Pow", [x, b.constFloat(3)]), b.constFloat(0.044715)]);
  const inner = b.op1("Mul", [b.op1("Add", [x, cube]), b.constFloat(Math.sqrt(2 / Math.PI))]);
  const t = b.op1("Add", [b.op1("Tanh", [inner]), b.constFloat(1)]);
  return b.op1("Mul", [b.op1("Mul", [x, t]), b.constFloat(0.5)]);
}
