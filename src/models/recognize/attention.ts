import type { NodeProto } from "onnx-buf";
import { isActivation, type GraphIndex } from "./graph.ts";
import type { Linear } from "./linears.ts";

/** One attention sublayer, found from its softmax (or fused attention op) outwards. */
export interface AttentionBlock {
  core: NodeProto;
  position: number;
  kind: "self" | "cross";
  q?: Linear;
  k?: Linear;
  v?: Linear;
  /** q, k and v computed by one packed matrix (GPT-2's c_attn, onnxruntime's Attention). */
  qkv?: Linear;
  o?: Linear;
}

/** Ops that move or rescale q, k and v between their projection and the score product. */
const QKV_PATH = new Set([
  "Transpose", "Reshape", "Mul", "Div", "Concat", "Split", "Slice", "Squeeze", "Unsqueeze", "Cast", "Identity",
  "Gather", "RotaryEmbedding", "Add", "Expand", "Tile",
]);
/** Ops between the score product and the softmax: scaling, masking. */
const SCORE_PATH = new Set(["Add", "Div", "Mul", "Where", "Sub", "Cast", "Identity", "Reshape", "Slice"]);
const FUSED_ATTENTION = new Set(["Attention", "MultiHeadAttention", "GroupQueryAttention", "PackedAttention"]);

export function findAttention(index: GraphIndex, linears: Linear[]): AttentionBlock[] {
  const byOutput = new Map<string, Linear>();
  const byInput = new Map<string, Linear[]>();
  for (const l of linears) {
    byOutput.set(l.output, l);
    byOutput.set(l.node.output[0], l);
    const list = byInput.get(l.input) ?? [];
    list.push(l);
    byInput.set(l.input, list);
  }
  const blocks: AttentionBlock[] = [];
  for (const node of index.nodes) {
    let block: AttentionBlock | undefined;
    if (node.opType === "Softmax") block = fromSoftmax(index, node, byOutput, byInput);
    else if (node.domain === "com.microsoft" && FUSED_ATTENTION.has(node.opType)) block = fromFused(index, node, linears, byOutput, byInput);
    if (block) blocks.push(block);
  }
  return blocks;
}

function fromSoftmax(index: GraphIndex, softmax: NodeProto, byOutput: Map<string, Linear>, byInput: Map<string, Linear[]>): AttentionBlock | undefined {
  const scores = findBackward(index, softmax.input[0], SCORE_PATH, (n) => n.opType === "MatMul" && isActivation(index, n.input[0]) && isActivation(index, n.input[1]) && !byOutput.has(n.output[0]));
  if (!scores) return undefined;
  let probs = softmax.output[0];
  let av: NodeProto | undefined;
  for (let hop = 0; hop < 4 && !av; hop++) {
    const readers = index.consumers.get(probs) ?? [];
    av = readers.find((r) => r.opType === "MatMul" && r.input[0] === probs);
    const pass = readers.find((r) => ["Cast", "Dropout", "Identity", "Reshape"].includes(r.opType));
    if (!av && pass) probs = pass.output[0];
    else if (!av) break;
  }
  if (!av) return undefined;
  const q = traceToLinear(index, scores.input[0], byOutput);
  const k = traceToLinear(index, scores.input[1], byOutput);
  const v = traceToLinear(index, av.input[1], byOutput);
  if (!q && !k && !v) return undefined;
  const o = forwardToLinear(index, av.output[0], byInput);
  return assemble(index, softmax, q, k, v, o);
}

function fromFused(index: GraphIndex, node: NodeProto, linears: Linear[], byOutput: Map<string, Linear>, byInput: Map<string, Linear[]>): AttentionBlock | undefined {
  const o = forwardToLinear(index, node.output[0], byInput);
  if (node.opType === "Attention") {
    const qkv = linears.find((l) => l.node === node);
    return { core: node, position: index.order.get(node)!, kind: "self", qkv, o };
  }
  const q = traceToLinear(index, node.input[0], byOutput);
  const k = node.input[1] ? traceToLinear(index, node.input[1], byOutput) : undefined;
  const v = node.input[2] ? traceToLinear(index, node.input[2], byOutput) : undefined;
  return assemble(index, node, q, k, v, o);
}

function assemble(index: GraphIndex, core: NodeProto, q?: Linear, k?: Linear, v?: Linear, o?: Linear): AttentionBlock {
  const position = index.order.get(core)!;
  if (q && q === k && (k === v || !v)) return { core, position, kind: "self", qkv: q, o };
  const kind = q && k && source(index, q.input) !== source(index, k.input) ? "cross" : "self";
  return { core, position, kind, q, k, v, o };
}

/** The tensor a linear really reads, looking through reshapes (TF exports reshape per projection). */
export function source(index: GraphIndex, tensor: string): string {
  for (let i = 0; i < 6; i++) {
    const p = index.producer.get(tensor);
    if (!p || !["Reshape", "Transpose", "Cast", "Identity", "Squeeze", "Unsqueeze", "Flatten"].includes(p.opType)) return tensor;
    tensor = p.input[0];
  }
  return tensor;
}

function findBackward(index: GraphIndex, start: string, through: Set<string>, match: (n: NodeProto) => boolean, limit = 24): NodeProto | undefined {
  const queue = [start];
  const seen = new Set<string>();
  while (queue.length && seen.size < limit) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const p = index.producer.get(name);
    if (!p) continue;
    if (match(p)) return p;
    if (through.has(p.opType)) for (const i of p.input) if (i && isActivation(index, i)) queue.push(i);
  }
  return undefined;
}

/** Backward from a score-product operand to the projection that made it. */
function traceToLinear(index: GraphIndex, start: string, byOutput: Map<string, Linear>): Linear | undefined {
  const queue = [start];
  const seen = new Set<string>();
  while (queue.length && seen.size < 48) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const hit = byOutput.get(name);
    if (hit) return hit;
    const p = index.producer.get(name);
    if (!p || !QKV_PATH.has(p.opType)) continue;
    const inputs = p.opType === "RotaryEmbedding" || p.opType === "Gather" ? [p.input[0]] : p.input;
    for (const i of inputs) if (i && isActivation(index, i)) queue.push(i);
  }
  return undefined;
}

/** Forward from the attention output to the output projection. */
function forwardToLinear(index: GraphIndex, start: string, byInput: Map<string, Linear[]>): Linear | undefined {
  let tensor = start;
  for (let hop = 0; hop < 6; hop++) {
    const hit = byInput.get(tensor);
    if (hit?.length) return hit[0];
    const readers = index.consumers.get(tensor) ?? [];
    const next = readers.find((r) => ["Transpose", "Reshape", "Cast", "Identity", "Flatten"].includes(r.opType));
    if (!next) return undefined;
    tensor = next.output[0];
  }
  return undefined;
}
