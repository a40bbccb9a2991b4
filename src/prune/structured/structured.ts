/**
 * Structured pruning: whole attention heads and MLP neurons removed by rewriting the graph, so
 * the matrices really shrink (q/k/v output channels and o input channels of removed heads,
 * their biases, Split sizes and the Reshape constants that carry the head count; fc_in output
 * channels and fc_out input channels of removed neurons). Dense kernels then do less work:
 * the only kind of pruning that is faster in onnxruntime from Node.
 *
 * Scores are weight norms: a head's ||[W_q W_k W_v]_head||_F * ||W_o,head||_F, a neuron's
 * ||W_in[:, j]|| * ||W_out[j, :]|| (gate included), the magnitude criterion of structured
 * pruning papers (e.g. Michel et al. 2019 use gradients; a norm needs no data).
 */
import type { GraphProto, NodeProto } from "onnx-buf";
import { mapModel } from "../../models/index.ts";
import type { ModelMap, ParamInfo } from "../../models/types.ts";
import { checkFiniteWeights } from "../../onnx/finite.ts";
import { readModel } from "../../onnx/model.ts";
import { writeModel } from "../../onnx/write.ts";
import { DataType } from "../../onnx/dtype.ts";
import { create } from "@bufbuild/protobuf";
import { TensorProtoSchema } from "onnx-buf";
import { addInitializer, attributeInt, consumers, findInitializer, removeInitializer } from "../../onnx/graph.ts";
import { namesOf } from "../../onnx/emit.ts";
import { graphOf, type OnnxModel } from "../../onnx/model.ts";
import { readFloat32, readIntegers, tensorBytes } from "../../onnx/tensor.ts";
import { PruneError } from "../errors.ts";
import { prunedCount } from "../rounding.ts";
import { forwardRegion, rewriteCacheShapes, rewriteHeadConstants, sliceTensor } from "./rewrite.ts";

export interface StructuredOptions {
  /** Fraction of heads removed in each attention block. */
  heads: number;
  /** Fraction of neurons removed in each MLP. */
  neurons: number;
  /**
   * Heads per attention block; read from the graph when absent (a fused attention node's
   * num_heads, else the Reshape constants that split the width into heads).
   */
  headCount?: number;
}

/** onnxruntime's fused attention ops, whose num_heads attribute carries the head count. */
const FUSED_ATTENTION = new Set(["Attention", "MultiHeadAttention", "GroupQueryAttention"]);

function isFusedAttention(node: NodeProto): boolean {
  return node.domain === "com.microsoft" && FUSED_ATTENTION.has(node.opType);
}

export interface StructuredBlock {
  part: string;
  layer: number;
  block: string;
  /** Heads or neurons before. */
  before: number;
  /** Indices kept, ascending. */
  kept: number[];
}

export interface StructuredResult {
  paramsBefore: number;
  paramsAfter: number;
  blocks: StructuredBlock[];
}

type Group = Map<string, ParamInfo>;

/** Per (part, layer, block): role -> parameter. */
function groupsOf(map: ModelMap, block: "attention" | "cross-attention" | "mlp"): Map<string, Group> {
  const out = new Map<string, Group>();
  for (const p of map.params) {
    if (p.block !== block || p.layer === null || p.shape.length !== 2 || p.duplicateOf) continue;
    const key = `${p.part}.${p.layer}.${block}`;
    if (!out.has(key)) out.set(key, new Map());
    out.get(key)!.set(p.role, p);
  }
  return out;
}

/** Output channels are columns of [in, out] and rows of [out, in]. */
const outAxis = (p: ParamInfo) => (p.layout === "out_in" ? 0 : 1);
const inAxis = (p: ParamInfo) => 1 - outAxis(p);

/** Sum of squares per index of `axis`, optionally for columns [offset, offset + n). */
function channelSquares(model: OnnxModel, p: ParamInfo, axis: number, offset: number, n: number): Float64Array {
  const { data } = readFloat32(model, findInitializer(graphOf(model), p.name)!);
  const [rows, cols] = p.shape;
  const out = new Float64Array(n);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const i = axis === 0 ? r : c;
      if (i >= offset && i < offset + n) out[i - offset] += data[r * cols + c] ** 2;
    }
  return out;
}

/** Lowest-scoring `drop` indices removed (ties: lower index first); the rest, ascending. */
function keepTop(scores: readonly number[], drop: number): number[] {
  const order = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b] || a - b);
  const dropped = new Set(order.slice(0, drop));
  return scores.map((_, i) => i).filter((i) => !dropped.has(i));
}

/** The node multiplying by the weight: MatMul, Gemm, or a fused Attention's packed projection. */
function matmulOf(graph: GraphProto, uses: Map<string, NodeProto[]>, p: ParamInfo): NodeProto {
  const node = (uses.get(p.name) ?? []).find((n) => n.opType === "MatMul" || n.opType === "Gemm" || (n.opType === "Attention" && isFusedAttention(n) && n.input[1] === p.name));
  if (!node) throw new PruneError(`${p.name}: structured pruning needs the weight read by a MatMul, Gemm or fused Attention`);
  return node;
}

/**
 * Head count from a fused attention node's num_heads, else from the first Reshape after the q
 * projection whose constant holds (H, dh).
 */
function inferHeads(model: OnnxModel, region: readonly NodeProto[], width: number): number | null {
  const graph = graphOf(model);
  for (const node of region) {
    const n = isFusedAttention(node) ? attributeInt(node, "num_heads") : undefined;
    if (n && n > 0) return n;
  }
  for (const node of region) {
    if (node.opType !== "Reshape" && node.opType !== "Div") continue;
    const init = findInitializer(graph, node.input[1]);
    const constant = graph.node.find((n) => n.opType === "Constant" && n.output[0] === node.input[1]);
    const t = init ?? constant?.attribute.find((a) => a.name === "value")?.t;
    if (!t || t.dataType !== DataType.INT64) continue;
    const values = readIntegers(model, t);
    // A torch export divides the width read from a Shape by H to get the head size.
    if (node.opType === "Div") {
      if (values.length === 1 && values[0] > 1 && width % values[0] === 0) return values[0];
      continue;
    }
    for (let i = 0; i + 1 < values.length; i++) if (values[i] > 0 && values[i] * values[i + 1] === width) return values[i];
  }
  return null;
}

/** Private copies made of shared tensors (sliceParam), by the shared tensor's name. */
type Copies = Map<string, string[]>;

function countParams(map: ModelMap, model: OnnxModel, copies: Copies = new Map()): number {
  const graph = graphOf(model);
  let n = 0;
  for (const p of map.params) {
    if (p.buffer || p.duplicateOf) continue;
    for (const name of [p.name, ...(copies.get(p.name) ?? [])]) {
      const t = findInitializer(graph, name);
      if (t) n += t.dims.reduce((a, d) => a * Number(d), 1);
    }
  }
  return n;
}

/**
 * Slices a block's parameter. A tensor the block shares with nodes outside it (optimized
 * exports deduplicate identical initializers, e.g. every layer's zero MLP bias in one tensor)
 * gets a private copy for the block first, so each layer keeps its own channels.
 */
function sliceParam(model: OnnxModel, name: string, axis: number, keep: number[], region: readonly NodeProto[], copies: Copies): void {
  const graph = graphOf(model);
  let t = findInitializer(graph, name);
  if (!t) throw new PruneError(`${model.file}: ${name} is not an initializer`);
  const inside = new Set(region);
  const readers = consumers(graph).get(name) ?? [];
  if (readers.some((n) => !inside.has(n)) || graph.output.some((o) => o.name === name)) {
    const copy = create(TensorProtoSchema, { name: namesOf(graph).fresh(`${name}_pb_structured`), dims: t.dims, dataType: t.dataType, rawData: Uint8Array.from(tensorBytes(model, t)) });
    addInitializer(graph, copy, model.file);
    for (const node of readers) if (inside.has(node)) node.input = node.input.map((i) => (i === name ? copy.name : i));
    copies.set(name, [...(copies.get(name) ?? []), copy.name]);
    if (!readers.some((n) => !inside.has(n))) removeInitializer(graph, name, model.file);
    t = copy;
  }
  sliceTensor(model, t, axis, keep);
}

/** Drops value_info of tensors whose shapes the rewrite changed; onnxruntime infers them again. */
function dropValueInfo(graph: GraphProto, region: readonly NodeProto[]): void {
  const outputs = new Set(region.flatMap((n) => n.output));
  graph.valueInfo = graph.valueInfo.filter((v) => !outputs.has(v.name));
}

function pruneAttention(model: OnnxModel, group: Group, fraction: number, headCount: number | undefined, key: string, copies: Copies): StructuredBlock | null {
  const graph = graphOf(model);
  const uses = consumers(graph);
  const o = group.get("o");
  const packed = group.get("qkv");
  const parts = packed ? [packed] : (["q", "k", "v"] as const).map((r) => group.get(r));
  if (!o || parts.some((p) => !p)) throw new PruneError(`${key}: structured pruning needs q, k, v (or packed qkv) and o matrices; the map has ${[...group.keys()].join(", ")}`);
  const projections = parts as ParamInfo[];
  const width = o.shape[inAxis(o)];
  const oNode = matmulOf(graph, uses, o);
  const region = forwardRegion(graph, projections.map((p) => matmulOf(graph, uses, p)), new Set([oNode]));
  const heads = headCount ?? inferHeads(model, region, width);
  if (!heads || width % heads !== 0) throw new PruneError(`${key}: cannot tell the head count from the graph; give it (prunebench prune --heads-count <n>, or { structured: { heads_count: <n> } } in prune.methods)`);
  for (const node of region) {
    const kv = isFusedAttention(node) ? attributeInt(node, "kv_num_heads") : undefined;
    if (kv && kv !== heads) throw new PruneError(`${key}: grouped-query attention (${heads} query heads, ${kv} key/value heads) is not one structured pruning can remove heads from`);
  }
  const dh = width / heads;
  const drop = Math.min(prunedCount(fraction, heads), heads - 1);
  if (drop === 0) return null;
  // Score per head.
  const qkvSquares = packed
    ? [0, 1, 2].map((s) => channelSquares(model, packed, outAxis(packed), s * width, width))
    : projections.map((p) => channelSquares(model, p, outAxis(p), 0, width));
  const oSquares = channelSquares(model, o, inAxis(o), 0, width);
  const scores = Array.from({ length: heads }, (_, h) => {
    let a = 0;
    let b = 0;
    for (let j = h * dh; j < (h + 1) * dh; j++) {
      for (const s of qkvSquares) a += s[j];
      b += oSquares[j];
    }
    return Math.sqrt(a) * Math.sqrt(b);
  });
  const kept = keepTop(scores, drop);
  const channels = kept.flatMap((h) => Array.from({ length: dh }, (_, j) => h * dh + j));
  const keptWidth = channels.length;
  const rewritten = rewriteHeadConstants(model, region, heads, dh, kept.length, width, keptWidth);
  if (rewritten === 0) throw new PruneError(`${key}: found no Reshape or Split constant carrying ${heads} heads of ${dh}; this graph's attention is not one structured pruning can rewrite`);
  for (const p of projections) {
    const cols = p === packed ? [0, 1, 2].flatMap((s) => channels.map((c) => s * width + c)) : channels;
    sliceParam(model, p.name, outAxis(p), cols, region, copies);
    if (p.bias) sliceParam(model, p.bias, 0, cols, region, copies);
  }
  sliceParam(model, o.name, inAxis(o), channels, region, copies);
  rewriteCacheShapes(graph, region, heads, dh, kept.length);
  dropValueInfo(graph, region);
  const [part, layer, block] = key.split(".");
  return { part, layer: Number(layer), block, before: heads, kept };
}

function pruneMlp(model: OnnxModel, group: Group, fraction: number, key: string, copies: Copies): StructuredBlock | null {
  const graph = graphOf(model);
  const uses = consumers(graph);
  const inputs = [group.get("fc_in"), group.get("gate")].filter((p): p is ParamInfo => !!p);
  const out = group.get("fc_out");
  if (!inputs.length || !out) throw new PruneError(`${key}: structured pruning needs fc_in and fc_out matrices; the map has ${[...group.keys()].join(", ")}`);
  const size = out.shape[inAxis(out)];
  const drop = Math.min(prunedCount(fraction, size), size - 1);
  if (drop === 0) return null;
  const a = inputs.map((p) => channelSquares(model, p, outAxis(p), 0, size));
  const b = channelSquares(model, out, inAxis(out), 0, size);
  const scores = Array.from({ length: size }, (_, j) => Math.sqrt(a.reduce((s, x) => s + x[j], 0)) * Math.sqrt(b[j]));
  const kept = keepTop(scores, drop);
  const region = forwardRegion(graph, inputs.map((p) => matmulOf(graph, uses, p)), new Set([matmulOf(graph, uses, out)]));
  for (const p of inputs) {
    sliceParam(model, p.name, outAxis(p), kept, region, copies);
    if (p.bias) sliceParam(model, p.bias, 0, kept, region, copies);
  }
  sliceParam(model, out.name, inAxis(out), kept, region, copies);
  dropValueInfo(graph, region);
  const [part, layer, block] = key.split(".");
  return { part, layer: Number(layer), block, before: size, kept };
}

/**
 * Removes the lowest-scoring fraction of heads in every attention block and of neurons in
 * every MLP, in place. Removing nothing leaves the model untouched.
 */
export function pruneStructured(model: OnnxModel, map: ModelMap, options: StructuredOptions): StructuredResult {
  for (const [name, v] of [["heads", options.heads], ["neurons", options.neurons]] as const) {
    if (!Number.isFinite(v) || v < 0 || v >= 1) throw new PruneError(`structured option ${name}: ${v} is outside [0, 1)`);
  }
  const paramsBefore = countParams(map, model);
  const copies: Copies = new Map();
  const blocks: StructuredBlock[] = [];
  if (options.heads > 0) {
    for (const block of ["attention", "cross-attention"] as const) {
      for (const [key, group] of groupsOf(map, block)) {
        const b = pruneAttention(model, group, options.heads, options.headCount, key, copies);
        if (b) blocks.push(b);
      }
    }
  }
  if (options.neurons > 0) {
    for (const [key, group] of groupsOf(map, "mlp")) {
      const b = pruneMlp(model, group, options.neurons, key, copies);
      if (b) blocks.push(b);
    }
  }
  return { paramsBefore, paramsAfter: countParams(map, model, copies), blocks };
}

export interface StructuredFileOptions extends StructuredOptions {
  input: string;
  output: string;
  externalData?: "auto" | "always" | "never";
  log?: (message: string) => void;
}

/** Reads a model, removes heads and neurons, writes the smaller model (atomically). */
export function pruneStructuredFile(options: StructuredFileOptions): StructuredResult & { output: string } {
  const model = readModel(options.input);
  checkFiniteWeights(model);
  const result = pruneStructured(model, mapModel(model), options);
  writeModel(model, options.output, { externalData: options.externalData ?? "auto" });
  options.log?.(`structured: ${result.paramsBefore} -> ${result.paramsAfter} parameters (${result.blocks.length} blocks rewritten) -> ${options.output}`);
  return { ...result, output: options.output };
}
