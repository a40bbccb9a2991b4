/**
 * onnxruntime's fused contrib ops (com.microsoft) written as the plain ONNX ops they fuse, so
 * that the training graph's gradient rules apply to optimized and genai-built exports:
 * Attention, MultiHeadAttention, RotaryEmbedding, EmbedLayerNormalization,
 * SkipLayerNormalization, SkipSimplifiedLayerNormalization, SimplifiedLayerNormalization,
 * FastGelu, Gelu and BiasGelu. Each op's semantics are onnxruntime's ContribOperators.md; the
 * test compares the defused graph's logits with onnxruntime's fused kernels. Inputs are the
 * layouts the exporters use (3-D [batch, seq, hidden] activations, 2-D masks and positions);
 * anything else is refused naming the node. The graph must already compute in fp32
 * (fp32-view.ts) and be at opset 17 or newer (LayerNormalization).
 */
import type { GraphProto, NodeProto } from "onnx-buf";
import { defaultOpset, Emitter, isDefaultDomain } from "../onnx/emit.ts";
import { attributeFloat, attributeInt, attributeInts, consumers, findInitializer } from "../onnx/graph.ts";
import { graphOf, type OnnxModel } from "../onnx/model.ts";
import { GradientError } from "./training-graph.ts";

interface Ctx {
  node: NodeProto;
  e: Emitter;
  graph: GraphProto;
  /** Whether output i is read by a node or is a graph output. */
  used(i: number): boolean;
  input(i: number): string | undefined;
  /** Static dims of an initializer input. */
  initDims(i: number): number[];
  fail(message: string): GradientError;
}

type Defuse = (c: Ctx) => (string | undefined)[];

/** x / sqrt(mean(x^2) + eps) * scale over the last axis (T5/Llama RMSNorm). */
function rmsNorm(e: Emitter, x: string, scale: string, epsilon: number): string {
  const rms = e.op("Sqrt", [e.op("Add", [e.withAxes("ReduceMean", e.mul(x, x), [-1], { keepdims: 1 }), e.scalar(epsilon)])]);
  return e.mul(e.op("Div", [x, rms]), scale);
}

function unused(c: Ctx, outputs: number[], what: string): void {
  for (const i of outputs) if (c.used(i)) throw c.fail(`its ${what} output is read; prunebench's plain form does not compute it`);
}

/** Equal parts along an axis (num_outputs from opset 18, the output count before). */
function splitEqual(e: Emitter, x: string, axis: number, parts: number): string[] {
  return e.node("Split", [x], { axis, ...(e.opset >= 18 ? { num_outputs: parts } : {}) }, parts);
}

/** [B, S, N*H] -> [B, N, S, H]. */
function splitHeads(e: Emitter, x: string, heads: number): string {
  return e.transpose(e.reshape(x, [0, 0, heads, -1]), [0, 2, 1, 3]);
}

interface Core {
  q: string;
  k: string;
  v: string;
  heads: number;
  /** Attribute value, or null for 1/sqrt(head size) read from q's shape. */
  scale: number | null;
  pastKey?: string;
  pastValue?: string;
  /** [B, T] of 1 (attend) and 0 (masked). */
  keyMask?: string;
  /** Added to the scores, broadcast to [B, N, S, T]. */
  bias?: string;
  causal: boolean;
  maskValue: number;
}

/** softmax(q k^T * scale + masks) v over heads: returns [B, S, N*Hv] and the caches [B, N, T, H]. */
function attend(e: Emitter, c: Core): { out: string; key: string; value: string } {
  const q = splitHeads(e, c.q, c.heads);
  let k = splitHeads(e, c.k, c.heads);
  let v = splitHeads(e, c.v, c.heads);
  if (c.pastKey) k = e.op("Concat", [c.pastKey, k], { axis: 2 });
  if (c.pastValue) v = e.op("Concat", [c.pastValue, v], { axis: 2 });
  let scale: string;
  if (c.scale !== null) scale = e.scalar(c.scale);
  else {
    const size = e.op("Cast", [e.op("Shape", [q], { start: 3, end: 4 })], { to: 1 });
    scale = e.op("Reciprocal", [e.op("Sqrt", [size])]);
  }
  let scores = e.mul(e.op("MatMul", [q, e.transpose(k, [0, 1, 3, 2])]), scale);
  if (c.bias) scores = e.op("Add", [scores, c.bias]);
  if (c.keyMask) {
    const masked = e.op("Sub", [e.scalar(1), e.op("Cast", [c.keyMask], { to: 1 })]);
    scores = e.op("Add", [scores, e.op("Unsqueeze", [e.mul(masked, e.scalar(c.maskValue)), e.ints([1, 2])])]);
  }
  if (c.causal) {
    // Query i (of S, after a past of T - S) sees keys j <= i + T - S.
    const S = e.op("Squeeze", [e.op("Shape", [q], { start: 2, end: 3 }), e.ints([0])]);
    const T = e.op("Squeeze", [e.op("Shape", [k], { start: 2, end: 3 }), e.ints([0])]);
    const rows = e.op("Add", [e.op("Unsqueeze", [e.op("Range", [e.int(0), S, e.int(1)]), e.ints([1])]), e.op("Sub", [T, S])]);
    const cols = e.op("Unsqueeze", [e.op("Range", [e.int(0), T, e.int(1)]), e.ints([0])]);
    scores = e.op("Where", [e.op("LessOrEqual", [cols, rows]), scores, e.scalar(c.maskValue)]);
  }
  const probs = e.op("Softmax", [scores], { axis: -1 });
  const out = e.reshape(e.transpose(e.op("MatMul", [probs, v]), [0, 2, 1, 3]), [0, 0, -1]);
  return { out, key: k, value: v };
}

/** A 2-D [batch, total] 0/1 mask given as a graph input; other mask layouts are refused. */
function keyMask(c: Ctx, i: number): string | undefined {
  const name = c.input(i);
  if (!name) return undefined;
  const declared = c.graph.input.find((v) => v.name === name);
  const dims = declared?.type?.value.case === "tensorType" ? declared.type.value.value.shape?.dim.length : undefined;
  if (dims !== 2) throw c.fail(`its mask ${JSON.stringify(name)} is not a 2-D [batch, total length] graph input; only that layout is supported`);
  return name;
}

const Attention: Defuse = (c) => {
  const { e, node } = c;
  if (attributeInt(c.node, "do_rotary", 0)) throw c.fail("do_rotary is not supported");
  if (c.input(6)) throw c.fail("past_sequence_length is not supported");
  const heads = attributeInt(node, "num_heads", 0);
  const [, width] = c.initDims(1);
  const sizes = attributeInts(node, "qkv_hidden_sizes") ?? [width / 3, width / 3, width / 3];
  let qkv = e.op("MatMul", [c.input(0)!, c.input(1)!]);
  if (c.input(2)) qkv = e.op("Add", [qkv, c.input(2)!]);
  const [q, k, v] = e.node("Split", [qkv, e.ints(sizes)], { axis: -1 }, 3);
  const past = c.input(4);
  const core = attend(e, {
    q,
    k,
    v,
    heads,
    scale: attributeFloat(node, "scale", 0) || 1 / Math.sqrt(sizes[0] / heads),
    pastKey: past ? e.op("Gather", [past, e.int(0)], { axis: 0 }) : undefined,
    pastValue: past ? e.op("Gather", [past, e.int(1)], { axis: 0 }) : undefined,
    keyMask: keyMask(c, 3),
    bias: c.input(5),
    causal: attributeInt(node, "unidirectional", 0) === 1,
    maskValue: attributeFloat(node, "mask_filter_value", -10000),
  });
  const present = c.used(1) ? e.op("Concat", [e.op("Unsqueeze", [core.key, e.ints([0])]), e.op("Unsqueeze", [core.value, e.ints([0])])], { axis: 0 }) : undefined;
  return [core.out, present];
};

const MultiHeadAttention: Defuse = (c) => {
  const { e, node } = c;
  if (!c.input(1) || !c.input(2)) throw c.fail("packed q/k/v (no separate key and value inputs) is not supported");
  if (c.input(8) || c.input(9)) throw c.fail("past_sequence_length and cache_indirection are not supported");
  let [q, k, v] = [c.input(0)!, c.input(1)!, c.input(2)!];
  if (c.input(3)) {
    const [bq, bk, bv] = splitEqual(e, c.input(3)!, 0, 3);
    [q, k, v] = [e.op("Add", [q, bq]), e.op("Add", [k, bk]), e.op("Add", [v, bv])];
  }
  const core = attend(e, {
    q,
    k,
    v,
    heads: attributeInt(node, "num_heads", 0),
    scale: attributeFloat(node, "scale", 0) || null,
    pastKey: c.input(6),
    pastValue: c.input(7),
    keyMask: keyMask(c, 4),
    bias: c.input(5),
    causal: attributeInt(node, "unidirectional", 0) === 1,
    maskValue: attributeFloat(node, "mask_filter_value", -10000),
  });
  return [core.out, core.key, core.value];
};

const RotaryEmbedding: Defuse = (c) => {
  const { e, node } = c;
  if (attributeInt(node, "is_packed_batching", 0)) throw c.fail("packed batching is not supported");
  if (attributeFloat(node, "scale", 1) !== 1) throw c.fail("a scale other than 1 is not supported");
  const half = c.initDims(2)[1];
  const rot = 2 * half;
  const dim = attributeInt(node, "rotary_embedding_dim", 0);
  const heads = attributeInt(node, "num_heads", 0);
  if (dim && dim !== rot) throw c.fail(`rotary_embedding_dim ${dim} does not match the cos cache (${half} per half)`);
  if (dim && !heads) throw c.fail("rotary_embedding_dim without num_heads is not supported");
  // [B, S, N*H] -> [B, S, N, H]; without num_heads the head size is the rotated size.
  const x = e.reshape(c.input(0)!, heads ? [0, 0, heads, -1] : [0, 0, -1, rot]);
  const table = (i: number) => e.op("Unsqueeze", [e.op("Gather", [c.input(i)!, c.input(1)!], { axis: 0 }), e.ints([2])]);
  const [cos, sin] = [table(2), table(3)];
  const last = e.int(-1);
  const slice = (v: string, from: number, to: number) => e.op("Slice", [v, e.ints([from]), e.ints([to]), e.ints([-1])]);
  const rotated = dim ? slice(x, 0, rot) : x;
  let out: string;
  if (attributeInt(node, "interleaved", 0)) {
    const pairs = e.reshape(rotated, [0, 0, 0, half, 2]);
    const [x1, x2] = splitEqual(e, pairs, -1, 2);
    const c5 = e.op("Unsqueeze", [cos, last]);
    const s5 = e.op("Unsqueeze", [sin, last]);
    const o1 = e.op("Sub", [e.mul(x1, c5), e.mul(x2, s5)]);
    const o2 = e.op("Add", [e.mul(x2, c5), e.mul(x1, s5)]);
    out = e.reshape(e.op("Concat", [o1, o2], { axis: -1 }), [0, 0, 0, rot]);
  } else {
    const [x1, x2] = [slice(rotated, 0, half), slice(rotated, half, rot)];
    const o1 = e.op("Sub", [e.mul(x1, cos), e.mul(x2, sin)]);
    const o2 = e.op("Add", [e.mul(x2, cos), e.mul(x1, sin)]);
    out = e.op("Concat", [o1, o2], { axis: -1 });
  }
  if (dim) out = e.op("Concat", [out, e.op("Slice", [x, e.ints([rot]), e.ints([2 ** 31 - 1]), e.ints([-1])])], { axis: -1 });
  return [e.reshape(out, [0, 0, -1])];
};

function skipSum(c: Ctx, biasInput: number): string {
  let sum = c.e.op("Add", [c.input(0)!, c.input(1)!]);
  if (c.input(biasInput)) sum = c.e.op("Add", [sum, c.input(biasInput)!]);
  return sum;
}

const SkipLayerNormalization: Defuse = (c) => {
  unused(c, [1, 2], "mean / inverse standard deviation");
  const sum = skipSum(c, 4);
  const inputs = [sum, c.input(2)!, ...(c.input(3) ? [c.input(3)!] : [])];
  return [c.e.op("LayerNormalization", inputs, { axis: -1, epsilon: { float: attributeFloat(c.node, "epsilon", 1e-12) } }), undefined, undefined, sum];
};

const SkipSimplifiedLayerNormalization: Defuse = (c) => {
  unused(c, [1, 2], "mean / inverse standard deviation");
  const sum = skipSum(c, 3);
  return [rmsNorm(c.e, sum, c.input(2)!, attributeFloat(c.node, "epsilon", 1e-12)), undefined, undefined, sum];
};

const SimplifiedLayerNormalization: Defuse = (c) => {
  unused(c, [1], "inverse standard deviation");
  if (attributeInt(c.node, "axis", -1) !== -1) throw c.fail("only axis -1 is supported");
  return [rmsNorm(c.e, c.input(0)!, c.input(1)!, attributeFloat(c.node, "epsilon", 1e-5))];
};

const EmbedLayerNormalization: Defuse = (c) => {
  const { e } = c;
  let sum = e.op("Gather", [c.input(2)!, c.input(0)!], { axis: 0 });
  let positions = c.input(8);
  if (!positions) {
    const S = e.op("Squeeze", [e.op("Shape", [c.input(0)!], { start: 1, end: 2 }), e.ints([0])]);
    positions = e.op("Range", [e.int(0), S, e.int(1)]);
  }
  sum = e.op("Add", [sum, e.op("Gather", [c.input(3)!, positions], { axis: 0 })]);
  if (c.input(4) && c.input(1)) sum = e.op("Add", [sum, e.op("Gather", [c.input(4)!, c.input(1)!], { axis: 0 })]);
  const out = e.op("LayerNormalization", [sum, c.input(5)!, c.input(6)!], { axis: -1, epsilon: { float: attributeFloat(c.node, "epsilon", 1e-12) } });
  let maskIndex: string | undefined;
  if (c.used(1)) {
    if (!c.input(7)) throw c.fail("its mask_index output is read but it has no mask input");
    maskIndex = e.op("Cast", [e.reduceSum(e.op("Cast", [c.input(7)!], { to: 6 }), [1], false)], { to: 6 });
  }
  return [out, maskIndex, sum];
};

function gelu(c: Ctx, tanh: boolean): (string | undefined)[] {
  const { e } = c;
  const y = c.input(1) ? e.op("Add", [c.input(0)!, c.input(1)!]) : c.input(0)!;
  const inner = tanh
    ? e.op("Tanh", [e.mul(e.scalar(Math.sqrt(2 / Math.PI)), e.op("Add", [y, e.mul(e.scalar(0.044715), e.mul(y, e.mul(y, y)))]))])
    : e.op("Erf", [e.mul(y, e.scalar(Math.SQRT1_2))]);
  return [e.mul(e.mul(e.scalar(0.5), y), e.op("Add", [e.scalar(1), inner]))];
}

const CONTRIB: Record<string, Defuse> = {
  Attention,
  MultiHeadAttention,
  RotaryEmbedding,
  EmbedLayerNormalization,
  SkipLayerNormalization,
  SkipSimplifiedLayerNormalization,
  FastGelu: (c) => gelu(c, true),
  Gelu: (c) => gelu(c, false),
  BiasGelu: (c) => gelu(c, false),
};
/** onnxruntime registers these in the default domain although no ONNX opset defines them. */
const DEFAULT_DOMAIN: Record<string, Defuse> = { SimplifiedLayerNormalization };

/**
 * Replaces each fused node of the model (in place: call it on a clone) by plain ops that
 * write the same output names. Returns how many nodes of each type were replaced.
 */
export function defuseContribOps(model: OnnxModel): Map<string, number> {
  const graph = graphOf(model);
  // The plain forms are written in place of their fused nodes, into a new node list.
  const nodes: NodeProto[] = [];
  const e = new Emitter(graph, { prefix: "prunebench_defuse/", opset: defaultOpset(model.proto), into: { node: nodes, initializer: graph.initializer } });
  const uses = consumers(graph);
  const outputs = new Set(graph.output.map((o) => o.name));
  const counts = new Map<string, number>();
  for (const node of graph.node) {
    const rule = node.domain === "com.microsoft" ? CONTRIB[node.opType] : isDefaultDomain(node.domain) ? DEFAULT_DOMAIN[node.opType] : undefined;
    if (!rule) {
      nodes.push(node);
      continue;
    }
    const where = `node ${JSON.stringify(node.name || node.output[0])} (${node.domain ? `${node.domain}:` : ""}${node.opType})`;
    const ctx: Ctx = {
      node,
      e,
      graph,
      used: (i) => !!node.output[i] && (outputs.has(node.output[i]) || (uses.get(node.output[i])?.length ?? 0) > 0),
      input: (i) => node.input[i] || undefined,
      initDims: (i) => {
        const t = node.input[i] ? findInitializer(graph, node.input[i]) : undefined;
        if (!t) throw new GradientError(`${model.file}: ${where}: input ${i} must be an initializer to train through it`);
        return t.dims.map(Number);
      },
      fail: (message) => new GradientError(`${model.file}: ${where}: ${message}`),
    };
    const results = rule(ctx);
    node.output.forEach((name, i) => {
      if (!name || !ctx.used(i)) return;
      if (!results[i]) throw ctx.fail(`output ${i} is read but the plain form does not compute it`);
      e.add({ opType: "Identity", inputs: [results[i]!], outputs: [name], name: `out/${name}` });
    });
    counts.set(node.opType, (counts.get(node.opType) ?? 0) + 1);
  }
  graph.node = nodes;
  return counts;
}
