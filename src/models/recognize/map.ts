import type { NodeProto } from "onnx-buf";
import { isFloatType } from "../../onnx/dtype.ts";
import { OnnxFormatError } from "../../onnx/errors.ts";
import type { OnnxModel } from "../../onnx/model.ts";
import type { Block, Family, MatrixLayout, ModelMap, ParamInfo, Part, Role } from "../types.ts";
import { findAttention, source, type AttentionBlock } from "./attention.ts";
import { findEmbeddings } from "./embeddings.ts";
import { ancestors, attrInt, attrString, indexGraph, nodeLabel, type GraphIndex } from "./graph.ts";
import { findLinears, type Linear } from "./linears.ts";
import { backwardLinears, forwardLinears, reachThroughActivation, reaches } from "./flow.ts";
import { findNormParams, isNormOp, isNormOutput } from "./norms.ts";
import { sameValues } from "./ties.ts";
import { detectCausal, isCausalMaskBuffer } from "./causal.ts";

export interface MapOptions {
  /** Use this family instead of the detected one (the config's `family`). */
  family?: Family;
}

interface Slot {
  bias?: string;
  part: Part;
  layer: number | null;
  block: Block;
  role: Role;
  layout?: MatrixLayout;
  buffer?: boolean;
}

interface Layer {
  part: Part;
  index: number;
  blocks: AttentionBlock[];
  hasMlp: boolean;
}

const SEARCH_OPS = new Set(["BeamSearch", "GreedySearch", "Sampling", "WhisperBeamSearch"]);

/** What mapModel's phases build up: the graph's facts first, then a slot for every initializer. */
interface MapState {
  model: OnnxModel;
  index: GraphIndex;
  notes: string[];
  linears: Linear[];
  attention: AttentionBlock[];
  family: Family;
  /** The stack that heads and leftovers belong to. */
  lastPart: Part;
  partOfNode: (node: NodeProto) => Part;
  layers: Layer[];
  slots: Map<string, Slot>;
  linearSlot: Map<Linear, Slot>;
}

/**
 * Maps every initializer of a transformer export to part, layer, block and role, from the
 * graph's data flow: attention is found from each softmax (or fused attention op) back to its
 * projections, MLPs as pairs of matrices joined by an activation, norms by their statistics,
 * embeddings by Gather, tied copies by comparing values. Names are used only as hints for
 * graph inputs (position_ids, token_type_ids), never for weights.
 */
export function mapModel(model: OnnxModel, options: MapOptions = {}): ModelMap {
  const index = indexGraph(model);
  refuseSubgraphModels(index);
  const state = familyAndParts(model, index, options);
  assignAttention(state, layersOf(state));
  assignMlps(state);
  assignHeads(state, assignEmbeddings(state));
  const preLN = assignNorms(state);
  assignLeftovers(state);
  const params = paramsOf(state);
  markTies(model, params, index, state.notes);
  noteMergedInitializers(state, params);
  const fused = index.nodes.some((n) => n.domain === "com.microsoft");
  const packed = state.attention.some((b) => b.qkv);
  const architecture = `${state.family} (${fused ? "onnxruntime fused ops" : "plain ops"}, ${preLN ? "pre-LN" : "post-LN"}${packed ? ", packed qkv" : ""})`;
  if (fused) state.notes.push("contrib ops (com.microsoft) found: the graph runs in onnxruntime only");
  const { layers } = state;
  return {
    family: state.family,
    architecture,
    layers: { encoder: layers.filter((l) => l.part === "encoder").length, decoder: layers.filter((l) => l.part === "decoder").length },
    params,
    notes: state.notes,
  };
}

/** Parts: encoder layers are the ones the cross-attention keys and values are computed from. */
function familyAndParts(model: OnnxModel, index: GraphIndex, options: MapOptions): MapState {
  const notes: string[] = [];
  const linears = findLinears(index);
  const attention = findAttention(index, linears);
  if (attention.length === 0) {
    throw new OnnxFormatError(model.file, "graph", "no attention found (no Softmax between two projections and no fused attention op): not a transformer prunebench can map");
  }
  const cross = attention.filter((b) => b.kind === "cross");
  const encoderNodes = cross.length && cross[0].k ? ancestors(index, source(index, cross[0].k.input)) : new Set<NodeProto>();
  const causal = detectCausal(index);
  let family: Family = cross.length ? "encoder-decoder" : causal.causal ? "decoder" : "encoder";
  if (options.family && options.family !== family) {
    notes.push(`family forced to ${options.family} by the config; the graph looks like ${family} (${cross.length ? "cross-attention found" : causal.reason})`);
    family = options.family;
  }
  const partOfNode = (node: NodeProto): Part => {
    if (family === "decoder") return "decoder";
    if (family === "encoder") return "encoder";
    return encoderNodes.has(node) ? "encoder" : "decoder";
  };
  const lastPart: Part = family === "encoder" ? "encoder" : "decoder";
  return { model, index, notes, linears, attention, family, lastPart, partOfNode, layers: [], slots: new Map(), linearSlot: new Map() };
}

/** Layers: self-attention blocks in graph order, per part; cross-attention joins the decoder layer before it. */
function layersOf(state: MapState): Map<AttentionBlock, Layer> {
  const { layers, family, partOfNode } = state;
  const layerOf = new Map<AttentionBlock, Layer>();
  for (const block of [...state.attention].sort((a, b) => a.position - b.position)) {
    const part = block.kind === "cross" ? (family === "encoder-decoder" ? "decoder" : partOfNode(block.core)) : partOfNode(block.core);
    if (block.kind === "cross") {
      const host = [...layers].reverse().find((l) => l.part === part);
      if (host) {
        host.blocks.push(block);
        layerOf.set(block, host);
        continue;
      }
    }
    const layer: Layer = { part, index: layers.filter((l) => l.part === part).length, blocks: [block], hasMlp: false };
    layers.push(layer);
    layerOf.set(block, layer);
  }
  return layerOf;
}

/** The first slot given to an initializer is kept. */
function assign(state: MapState, name: string | undefined, slot: Slot): void {
  if (name && !state.slots.has(name)) state.slots.set(name, slot);
}

function setLinear(state: MapState, l: Linear, slot: Slot): void {
  state.linearSlot.set(l, slot);
  assign(state, l.weight, { ...slot, layout: l.layout, bias: l.bias });
  if (l.bias) assign(state, l.bias, { ...slot, role: "bias", layout: undefined });
}

function assignAttention(state: MapState, layerOf: Map<AttentionBlock, Layer>): void {
  const { linearSlot } = state;
  for (const block of state.attention) {
    const layer = layerOf.get(block)!;
    const base = { part: layer.part, layer: layer.index, block: (block.kind === "cross" ? "cross-attention" : "attention") as Block };
    if (block.qkv) setLinear(state, block.qkv, { ...base, role: "qkv" });
    if (block.q) setLinear(state, block.q, { ...base, role: "q" });
    if (block.k && !linearSlot.has(block.k)) setLinear(state, block.k, { ...base, role: "k" });
    if (block.v && !linearSlot.has(block.v)) setLinear(state, block.v, { ...base, role: "v" });
    if (block.o && !linearSlot.has(block.o)) setLinear(state, block.o, { ...base, role: "o" });
  }
}

/** MLPs: a matrix whose output reaches another matrix through an activation only. */
function assignMlps(state: MapState): void {
  const { index, layers, linearSlot } = state;
  const free = state.linears.filter((l) => !linearSlot.has(l));
  const byInput = new Map<string, Linear[]>();
  for (const l of free) byInput.set(l.input, [...(byInput.get(l.input) ?? []), l]);
  const mlpTargets = new Map<Linear, { target: Linear; nonlinear: boolean }>();
  for (const a of free) {
    const hit = reachThroughActivation(index, a, byInput);
    if (hit && hit.target !== a && hit.target.outDim === a.inDim) mlpTargets.set(a, hit);
  }
  for (const a of free) {
    const hit = mlpTargets.get(a);
    if (!hit || linearSlot.has(a)) continue;
    const position = index.order.get(a.node)!;
    const part = state.partOfNode(a.node);
    const layer = [...layers].reverse().find((l) => l.part === part && l.blocks[0].position < position);
    if (!layer || layer.hasMlp) continue;
    const inputs = free.filter((x) => mlpTargets.get(x)?.target === hit.target);
    const base = { part, layer: layer.index, block: "mlp" as Block };
    for (const x of inputs) {
      const gated = inputs.length > 1 && mlpTargets.get(x)!.nonlinear && inputs.some((y) => y !== x && !mlpTargets.get(y)!.nonlinear);
      setLinear(state, x, { ...base, role: gated ? "gate" : "fc_in" });
    }
    setLinear(state, hit.target, { ...base, role: "fc_out" });
    layer.hasMlp = true;
  }
  if (layers.some((l) => !l.hasMlp)) state.notes.push(`no MLP recognised in ${layers.filter((l) => !l.hasMlp).map((l) => `${l.part} layer ${l.index}`).join(", ")}`);
}

/** Embeddings; returns the vocabulary size (the largest token table), or 0. */
function assignEmbeddings(state: MapState): number {
  const { index } = state;
  const embeddings = findEmbeddings(index, state.linears, state.linearSlot, state.partOfNode);
  const tokenTables = embeddings.filter((e) => e.role === "token_embedding");
  for (const e of embeddings) {
    assign(state, e.name, { part: e.part, layer: null, block: "embedding", role: e.role, layout: "out_in" });
    if (e.role === "position_embedding" && e.part === "shared") {
      state.notes.push(`${e.name} serves both stacks: the exporter merged the encoder's and decoder's equal (sinusoidal) position tables into one; torch counts one table per stack`);
    }
  }
  return Math.max(0, ...tokenTables.map((e) => index.shapes.get(e.name)![0]));
}

/** Heads: what is left after the last layer. */
function assignHeads(state: MapState, vocab: number): void {
  const { index, linearSlot } = state;
  const heads = state.linears.filter((l) => !linearSlot.has(l));
  for (const l of heads) {
    const readers = index.consumers.get(l.output) ?? [];
    let role: Role = "other";
    if (vocab && l.outDim === vocab) role = "lm_head";
    else if (readers.some((r) => r.opType === "Tanh")) role = "pooler";
    else if (heads.some((h) => h !== l && reaches(index, l.output, h.input))) role = "head_transform";
    setLinear(state, l, { part: state.lastPart, layer: null, block: "head", role });
    if (role === "lm_head" && state.slots.get(l.weight)?.block === "embedding") state.notes.push(`the LM head reads ${l.weight} through a Transpose (tied in the graph, one copy)`);
  }
  if (state.family !== "encoder" && !heads.some((l) => linearSlot.get(l)?.role === "lm_head")) {
    state.notes.push("no LM head: the graph ends at the hidden states (or in a task head), so it gives no token logits");
  }
}

/** Norms: pre-LN norms belong to the layer they feed, post-LN norms to the layer that feeds them. Returns whether the model is pre-LN. */
function assignNorms(state: MapState): boolean {
  const { index, linears } = state;
  const norms = findNormParams(index, new Set(state.slots.keys()));
  const normNodes = new Set(norms.map((n) => n.node));
  const preLN = isPreLN(index, state.layers, normNodes);
  const linearAt = new Map<string, Linear>();
  for (const l of linears) {
    linearAt.set(l.output, l);
    linearAt.set(l.node.output[0], l);
  }
  for (const norm of norms) {
    const consumers = index.consumers.get(norm.name) ?? [];
    const node = consumers.length ? consumers.reduce((a, b) => (index.order.get(a)! <= index.order.get(b)! ? a : b)) : norm.node;
    assign(state, norm.name, normSlot(index, node, norm.role, preLN, linears, state.linearSlot, linearAt, state.partOfNode, state.lastPart));
  }
  return preLN;
}

/** Everything else: constants, masks and tables that are not trained. */
function assignLeftovers(state: MapState): void {
  const { index, model } = state;
  for (const t of index.graph.initializer) {
    if (state.slots.has(t.name)) continue;
    const shape = index.shapes.get(t.name)!;
    const count = shape.reduce((a, b) => a * b, 1);
    const readers = index.consumers.get(t.name) ?? [];
    const rotary = readers.some((r) => r.opType === "RotaryEmbedding");
    const buffer = !isFloatType(t.dataType) || count <= 1 || rotary || isCausalMaskBuffer(model, t, shape) || readers.length === 0;
    if (!buffer) state.notes.push(`${t.name} ${JSON.stringify(shape)} was not recognised; mapped as "other"`);
    assign(state, t.name, { part: state.family === "encoder-decoder" ? "shared" : state.lastPart, layer: null, block: "other", role: "other", buffer: buffer || undefined });
  }
}

function paramsOf(state: MapState): ParamInfo[] {
  const { index } = state;
  return index.graph.initializer.map((t): ParamInfo => {
    const slot = state.slots.get(t.name)!;
    const shape = index.shapes.get(t.name)!;
    const info: ParamInfo = {
      name: t.name,
      shape,
      dataType: t.dataType,
      count: shape.reduce((a, b) => a * b, 1),
      part: slot.part,
      layer: slot.layer,
      block: slot.block,
      role: slot.role,
      prunable: PRUNABLE_ROLES.has(slot.role) && (slot.block === "attention" || slot.block === "cross-attention" || slot.block === "mlp"),
      consumers: (index.consumers.get(t.name) ?? []).map((n) => nodeLabel(index, n)),
    };
    if (slot.layout && shape.length === 2) info.layout = slot.layout;
    if (slot.buffer) info.buffer = true;
    if (slot.bias && slot.role !== "bias") info.bias = slot.bias;
    return info;
  });
}

function noteMergedInitializers(state: MapState, params: ParamInfo[]): void {
  for (const p of params) {
    const readers = state.index.consumers.get(p.name) ?? [];
    if (p.buffer || p.block === "embedding" || readers.length < 2) continue;
    if (new Set(readers.map((r) => r.opType)).size === 1 && readers.length > 1) {
      state.notes.push(`${p.name} is read by ${readers.length} ${readers[0].opType} nodes (an optimizer merged equal initializers?); mapped by its first use, ${p.part} layer ${p.layer}`);
    }
  }
}

const PRUNABLE_ROLES = new Set<Role>(["q", "k", "v", "qkv", "o", "fc_in", "fc_out", "gate"]);

function refuseSubgraphModels(index: GraphIndex): void {
  for (const node of index.nodes) {
    const graphs = node.attribute.filter((a) => a.g);
    if (!graphs.length) continue;
    const weights = graphs.reduce((sum, a) => sum + (a.g?.initializer.filter((t) => isFloatType(t.dataType) && t.dims.length === 2).length ?? 0), 0);
    if (SEARCH_OPS.has(node.opType) || weights > 0) {
      const kind = attrInt(node, "model_type");
      throw new OnnxFormatError(
        index.model.file,
        `node ${JSON.stringify(nodeLabel(index, node))} (${node.opType})`,
        `the weights (${weights} matrices) live in its subgraphs ${graphs.map((a) => JSON.stringify(a.name)).join(", ")}` +
          `${kind !== undefined ? ` (model_type ${kind}${attrString(node, "model_type") ?? ""})` : ""}; prunebench maps plain graphs only: export the model without the generation loop (e.g. optimum's model.onnx, not a beam-search model)`,
      );
    }
  }
}

/**
 * Pre-LN (GPT-2, Pegasus) adds the attention output to the raw residual stream; post-LN (BERT)
 * adds it to the previous norm's output. Looked at on the first layer.
 */
function isPreLN(index: GraphIndex, layers: Layer[], normNodes: Set<NodeProto>): boolean {
  const o = layers[0]?.blocks[0]?.o;
  if (!o) return true;
  const readers = index.consumers.get(o.output) ?? [];
  for (const r of readers) {
    if (r.opType === "Add" || (isNormOp(r) && r.opType.startsWith("Skip"))) {
      const other = r.input.slice(0, 2).find((i) => i && i !== o.output);
      if (other) return !isNormOutput(index, other, normNodes);
    }
  }
  return true;
}

function normSlot(
  index: GraphIndex,
  node: NodeProto,
  role: Role,
  preLN: boolean,
  linears: Linear[],
  linearSlot: Map<Linear, Slot>,
  linearAt: Map<string, Linear>,
  partOfNode: (n: NodeProto) => Part,
  lastPart: Part,
): Slot {
  if (preLN) {
    const fed = forwardLinears(index, node, linears);
    const slots = fed.map((l) => linearSlot.get(l)!).filter(Boolean);
    const inLayer = slots.filter((s) => s.layer !== null);
    const crossKV = inLayer.every((s) => s.block === "cross-attention" && (s.role === "k" || s.role === "v"));
    const layersFed = new Set(inLayer.map((s) => `${s.part}:${s.layer}`));
    if (inLayer.length && !crossKV && layersFed.size === 1) return { part: inLayer[0].part, layer: inLayer[0].layer, block: "norm", role };
    // Feeds the head, every decoder layer's cross-attention, or nothing: the stack's final norm.
    const part = inLayer.length && crossKV ? "encoder" : slots.length ? slots[0].part : partOfNode(node);
    return { part: part === "shared" ? lastPart : part, layer: null, block: "norm", role };
  }
  const fedBy = backwardLinears(index, node, linearAt);
  if (!fedBy) return { part: partOfNode(node), layer: null, block: "embedding", role };
  const slot = linearSlot.get(fedBy)!;
  if (slot.block === "head") return { part: slot.part, layer: null, block: "head", role };
  return { part: slot.part, layer: slot.layer, block: "norm", role };
}

/** Tied weights: a second copy of an embedding (usually transposed for the LM head). */
function markTies(model: OnnxModel, params: ParamInfo[], index: GraphIndex, notes: string[]): void {
  const tables = params.filter((p) => p.block === "embedding" && p.shape.length === 2 && !p.buffer);
  const others = params.filter((p) => p.shape.length === 2 && !p.buffer && !tables.includes(p) && isFloatType(p.dataType));
  for (const table of tables) {
    const ta = index.initializers.get(table.name)!;
    for (const other of others) {
      if (other.duplicateOf || other.count !== table.count) continue;
      const tb = index.initializers.get(other.name)!;
      const transposed = other.shape[0] === table.shape[1] && other.shape[1] === table.shape[0];
      const same = other.shape[0] === table.shape[0] && other.shape[1] === table.shape[1];
      if (!transposed && !same) continue;
      if (sameValues(model, ta, tb, table.shape, transposed && !same) || (transposed && same && sameValues(model, ta, tb, table.shape, true))) {
        other.duplicateOf = table.name;
        other.prunable = false;
        notes.push(`${other.name} holds the values of ${table.name}${transposed ? " transposed" : ""} (tied weights): counted once, pruned once`);
      }
    }
  }
}
