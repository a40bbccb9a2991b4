/**
 * Builds a training graph from an inference graph: one ONNX model, static shapes, whose
 * trainable float initializers are inputs and whose outputs are the scalar loss and one
 * gradient per trainable tensor. Gradients are emitted node by node in reverse order as plain
 * ONNX ops (rules in ./grad), so onnxruntime runs the backward pass on any execution provider.
 */
import type { GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from "onnx-buf";
import { addLossGraph } from "../eval/loss-graph.ts";
import type { Family } from "../models/types.ts";
import { DataType, dataTypeName, isFloatType } from "../onnx/dtype.ts";
import { OnnxFormatError } from "../onnx/errors.ts";
import { defaultOpset, Emitter, isDefaultDomain, valueInfoFor } from "../onnx/emit.ts";
import { attributeFloat, attributeInt, attributeInts, describe } from "../onnx/graph.ts";
import { graphOf, type OnnxModel } from "../onnx/model.ts";
import { materialize, readFloat32, readIntegers } from "../onnx/tensor.ts";
import { GRAD_RULES, NON_DIFFERENTIABLE, type GradContext } from "./grad/index.ts";
import { Tensor, type SessionOptions } from "../eval/session.ts";
import { tapShapes, type ValueFacts } from "./shapes.ts";
import { findTiedCopies, isSinusoidal, type TiedCopy } from "./tied.ts";
import { UserError } from "../errors.ts";

export type LossSpec =
  /** Token-level cross-entropy on the logits: labels [batch, seq] (-100 = not scored), loss = sum(nll) * loss_scale. */
  | { kind: "lm"; family: Family; logits?: string }
  /** The graph already computes a scalar loss in this output. */
  | { kind: "scalar"; output: string };

export interface TrainingGraphOptions {
  model: OnnxModel;
  loss: LossSpec;
  /**
   * Example feeds at the training shape (every model input, plus `labels` for an "lm" loss).
   * Their shapes become the graph's static shapes.
   */
  feeds: Record<string, Tensor>;
  /** Which float initializers to train (default: every one that reaches the loss, except fixed sinusoidal position tables). */
  trainable?: (name: string) => boolean;
  /** Float initializers never trained whatever `trainable` says (tables such as rotary caches). */
  frozen?: ReadonlySet<string>;
  /** Detect tied copies and train them as one tensor (default true). */
  tie?: boolean;
  session?: SessionOptions;
}

export interface TrainableParam {
  name: string;
  dims: number[];
  /** Output holding its gradient in the training graph. */
  grad: string;
}

export interface TrainingGraph {
  /** Outputs: loss, then one gradient per param. */
  train: ModelProto;
  /** Same forward pass and loss, no gradients (validation, finite differences). */
  evaluate: ModelProto;
  params: TrainableParam[];
  tied: TiedCopy[];
  /** Data inputs (the params are inputs too, by name). */
  inputs: string[];
  loss: string;
  /** Scalar fp32 input multiplied into the summed token loss ("lm" only). */
  scale?: string;
  /** Static shapes of the data inputs. */
  shapes: Record<string, number[]>;
}

const PREFIX = "prunebench_train/";
export const LOSS_OUTPUT = `${PREFIX}loss`;
export const LOSS_SCALE = `${PREFIX}loss_scale`;

export class GradientError extends UserError {}

/** What the phases of buildTrainingGraph hand on to each other, each filling in its part. */
interface Build {
  readonly options: TrainingGraphOptions;
  readonly model: OnnxModel;
  /** The model the forward graph comes from: the loss graph's copy for an "lm" loss. */
  readonly base: ModelProto;
  readonly opset: number;
  /** 1. The forward pass: the model's nodes and the loss, its initializers, its data inputs, the loss as the one output. */
  readonly forward: GraphProto;
  readonly loss: string;
  readonly scale: string | undefined;
  /** 2. Dims, types and small integer values of every value at the training shape. */
  readonly facts: Map<string, ValueFacts>;
  /** 3. The fp32 initializers of the model, those to train, and tied copies with the nodes that compute them. */
  readonly fp32: TensorProto[];
  readonly candidates: Set<string>;
  readonly tied: TiedCopy[];
  readonly tieNodes: NodeProto[];
  /** 4. Values that depend on a candidate through differentiable inputs. */
  readonly requires: Set<string>;
  /** 5. The reverse pass, emitted into its own lists under names the forward graph does not use. */
  readonly grad: Emitter;
  readonly grads: Map<string, string[]>;
}

export async function buildTrainingGraph(options: TrainingGraphOptions): Promise<TrainingGraph> {
  const b = forwardGraphWithLoss(options);
  await shapesAndValues(b);
  candidates(b);
  valuesDependingOnCandidates(b);
  reversePass(b);
  return assemble(b);
}

/** 1. The forward graph with its loss (a graph that already computes one, or the token-level loss added). */
function forwardGraphWithLoss(options: TrainingGraphOptions): Build {
  const { model } = options;
  const file = model.file;
  const source = graphOf(model);
  for (const t of source.initializer) materialize(model, t);
  const opset = defaultOpset(model.proto);
  if (opset < 13) throw new OnnxFormatError(file, "opset_import", `ai.onnx opset ${opset} is too old to train (13 or newer is needed)`);
  const lm = options.loss.kind === "lm" ? addLossGraph(model, { family: options.loss.family, logits: options.loss.logits }) : undefined;
  const base = lm ? lm.model.proto : model.proto;
  const baseGraph = base.graph!;
  const loss = options.loss.kind === "lm" ? LOSS_OUTPUT : options.loss.output;
  if (!lm && !source.output.some((o) => o.name === loss)) throw new OnnxFormatError(file, "graph.output", `has no output ${JSON.stringify(loss)}`);
  const forward: GraphProto = {
    ...baseGraph,
    node: [...baseGraph.node],
    initializer: [...baseGraph.initializer],
    input: baseGraph.input.filter((i) => !baseGraph.initializer.some((t) => t.name === i.name)),
    output: [valueInfoFor(loss, { dtype: DataType.FLOAT, shape: [] })],
  };
  if (lm) {
    // loss = sum(nll) * loss_scale, the scale fed per batch.
    forward.input.push(valueInfoFor(LOSS_SCALE, { dtype: DataType.FLOAT, shape: [] }));
    const e = new Emitter(forward, { prefix: `${PREFIX}loss/`, opset });
    e.add({ opType: "ReduceSum", inputs: [e.mul(lm.nll, LOSS_SCALE)], outputs: [LOSS_OUTPUT], name: "sum", attributes: { keepdims: 0 } });
  }
  return {
    options,
    model,
    base,
    // ScatterND/ScatterElements with reduction "add"; 13..15 -> 16 changes no op used by exports.
    opset: Math.max(opset, 16),
    forward,
    loss,
    scale: lm ? LOSS_SCALE : undefined,
    facts: new Map(),
    fp32: [],
    candidates: new Set(),
    tied: [],
    tieNodes: [],
    requires: new Set(),
    grad: new Emitter(forward, { prefix: `${PREFIX}grad/`, opset: Math.max(opset, 16), into: { node: [], initializer: [] } }),
    grads: new Map(),
  };
}

/** 2. Shapes and small integer values of everything, at the training shape. */
async function shapesAndValues(b: Build): Promise<void> {
  const { file } = b.model;
  const feeds = { ...b.options.feeds };
  if (b.scale) feeds[b.scale] = new Tensor("float32", new Float32Array([1]), []);
  for (const input of b.forward.input) {
    if (!(input.name in feeds)) throw new OnnxFormatError(file, "graph.input", `needs a feed for ${JSON.stringify(input.name)} to fix the training shape`);
  }
  for (const [name, f] of await tapShapes(withGraph(b.base, b.opset, b.forward), feeds, b.options.session)) b.facts.set(name, f);
  for (const t of b.forward.initializer) {
    const f: ValueFacts = { dims: t.dims.map(Number), dataType: t.dataType };
    if ((t.dataType === DataType.INT64 || t.dataType === DataType.INT32) && f.dims.reduce((x, y) => x * y, 1) <= 64) f.ints = readIntegers({ ...b.model, proto: b.base }, t);
    b.facts.set(t.name, f);
  }
  const loss = b.facts.get(b.loss)!;
  if (loss.dims.reduce((x, y) => x * y, 1) !== 1 || loss.dataType !== DataType.FLOAT) {
    throw new OnnxFormatError(file, "loss", `${JSON.stringify(b.loss)} must be one fp32 value; it is ${dataTypeName(loss.dataType)} [${loss.dims}]`);
  }
}

/** 3. Candidates: float initializers; tied copies become a Transpose of their original. */
function candidates(b: Build): void {
  const { model, options } = b;
  const source = graphOf(model);
  const sinusoidal = new Set(
    source.initializer
      .filter((t) => t.dataType === DataType.FLOAT && t.dims.length === 2 && isSinusoidal(readFloat32(model, t).data, Number(t.dims[0]), Number(t.dims[1])))
      .map((t) => t.name),
  );
  const chosen = options.trainable ?? ((name: string) => !sinusoidal.has(name));
  const wanted = (name: string) => !options.frozen?.has(name) && chosen(name);
  const original = new Set(source.initializer.map((t) => t.name));
  const floats = b.forward.initializer.filter((t) => original.has(t.name) && (t.dataType === DataType.FLOAT || t.dataType === DataType.FLOAT16 || t.dataType === DataType.BFLOAT16));
  for (const t of floats) {
    if (t.dataType !== DataType.FLOAT && wanted(t.name)) {
      throw new OnnxFormatError(model.file, `initializer ${JSON.stringify(t.name)}`, `is ${dataTypeName(t.dataType)}; training needs fp32 weights (convert the model to fp32 first)`);
    }
  }
  b.fp32.push(...floats.filter((t) => t.dataType === DataType.FLOAT));
  if (options.tie !== false) b.tied.push(...findTiedCopies(b.fp32.filter((t) => wanted(t.name)).map((tensor) => ({ tensor, data: readFloat32(model, tensor).data }))));
  const copies = new Set(b.tied.map((t) => t.copy));
  // A tied copy's initializer gives way to a node that computes it from the original.
  const ties = new Emitter(b.forward, { prefix: `${PREFIX}tie/`, into: { node: b.tieNodes, initializer: [] } });
  for (const t of b.tied) {
    ties.add({ opType: t.transposed ? "Transpose" : "Identity", inputs: [t.of], outputs: [t.copy], name: t.copy, attributes: t.transposed ? { perm: [1, 0] } : {} });
  }
  for (const t of b.fp32) if (wanted(t.name) && !copies.has(t.name)) b.candidates.add(t.name);
}

/** The forward nodes in order, tie nodes first. */
function forwardNodes(b: Build): NodeProto[] {
  return [...b.tieNodes, ...b.forward.node];
}

/** 4. Which values depend on a candidate through differentiable inputs. */
function valuesDependingOnCandidates(b: Build): void {
  for (const c of b.candidates) b.requires.add(c);
  for (const node of forwardNodes(b)) {
    if (isDefaultDomain(node.domain) && NON_DIFFERENTIABLE.has(node.opType)) continue;
    const rule = isDefaultDomain(node.domain) ? GRAD_RULES.get(node.opType) : undefined;
    const positions = rule && rule.differentiable !== "all" ? rule.differentiable : node.input.map((_, i) => i);
    if (!positions.some((i) => node.input[i] && b.requires.has(node.input[i]))) continue;
    for (const out of node.output) {
      const f = b.facts.get(out);
      if (out && f && isFloatType(f.dataType)) b.requires.add(out);
    }
  }
}

/** The gradient of a value: the sum of what its readers sent back (undefined when nothing did). */
function totalGrad(b: Build, name: string): string | undefined {
  const list = b.grads.get(name);
  if (!list || list.length === 0) return undefined;
  if (list.length > 1) b.grads.set(name, [b.grad.op("Sum", list)]);
  return b.grads.get(name)![0];
}

/** 5. Reverse pass: each node's rule, from the loss back, sends gradients to the inputs that need them. */
function reversePass(b: Build): void {
  const { file } = b.model;
  b.grads.set(b.loss, [b.grad.scalar(1, b.facts.get(b.loss)!.dims)]);
  const nodes = forwardNodes(b);
  for (let n = nodes.length - 1; n >= 0; n--) {
    const node = nodes[n];
    const outGrads = node.output.map((o) => (o && b.requires.has(o) ? totalGrad(b, o) : undefined));
    if (outGrads.every((g) => g === undefined)) continue;
    if (isDefaultDomain(node.domain) && NON_DIFFERENTIABLE.has(node.opType)) continue;
    const where = `node ${describe(node)}`;
    if (!isDefaultDomain(node.domain)) {
      throw new GradientError(
        `${file}: ${where} is a fused contrib op; prunebench cannot differentiate fused kernels. Train an export with plain ONNX ops (e.g. torch.onnx.export without onnxruntime's transformer optimizer).`,
      );
    }
    const rule = GRAD_RULES.get(node.opType);
    if (!rule) throw new GradientError(`${file}: no gradient rule for op ${node.opType} at ${where}`);
    const positions = rule.differentiable === "all" ? node.input.map((_, i) => i) : rule.differentiable;
    const wants = (i: number) => positions.includes(i) && !!node.input[i] && b.requires.has(node.input[i]);
    if (!node.input.some((_, i) => wants(i))) continue;
    if (outGrads[0] === undefined && !["Split", "LayerNormalization"].includes(node.opType)) continue;
    const result = rule.grad(gradContext(b, node, where, outGrads, wants));
    node.input.forEach((name, i) => {
      if (!wants(i) || !result[i]) return;
      let list = b.grads.get(name);
      if (!list) b.grads.set(name, (list = []));
      list.push(result[i]!);
    });
  }
}

function gradContext(b: Build, node: NodeProto, where: string, outGrads: (string | undefined)[], wants: (i: number) => boolean): GradContext {
  const { file } = b.model;
  return {
    node,
    e: b.grad,
    dy: (i = 0) => outGrads[i],
    wants,
    shape: (name) => {
      const f = b.facts.get(name);
      if (!f) throw new GradientError(`${file}: no shape known for value ${JSON.stringify(name)}`);
      return f.dims;
    },
    dtype: (name) => b.facts.get(name)?.dataType ?? DataType.UNDEFINED,
    ints: (name) => {
      const v = b.facts.get(name)?.ints;
      if (!v) throw new GradientError(`${file}: ${where} reads ${JSON.stringify(name)}, which is not a small integer tensor known at build time`);
      return v;
    },
    attrInt: (k, fallback) => attributeInt(node, k, fallback),
    attrInts: (k) => attributeInts(node, k),
    attrFloat: (k, fallback) => attributeFloat(node, k, fallback),
    fail: (message) => new GradientError(`${file}: ${where}: ${message}`),
  };
}

/** 6. Assemble: the training graph (loss and one gradient output per parameter) and the forward-only one. */
function assemble(b: Build): TrainingGraph {
  const params: TrainableParam[] = [];
  const gradOutputs: ValueInfoProto[] = [];
  for (const t of b.fp32) {
    if (!b.candidates.has(t.name)) continue;
    const g = totalGrad(b, t.name);
    if (!g) continue;
    const dims = t.dims.map(Number);
    const out = `${PREFIX}grad:${t.name}`;
    b.grad.add({ opType: "Identity", inputs: [g], outputs: [out], name: `out/${t.name}` });
    gradOutputs.push(valueInfoFor(out, { dtype: DataType.FLOAT, shape: dims }));
    params.push({ name: t.name, dims, grad: out });
  }
  if (params.length === 0) throw new GradientError(`${b.model.file}: no trainable float initializer reaches the loss`);
  const trained = new Set(params.map((p) => p.name));
  const usedTies = b.tied.filter((t) => trained.has(t.of));
  const keepInits = b.forward.initializer.filter((t) => !trained.has(t.name) && !usedTies.some((c) => c.copy === t.name));
  const unusedTieNodes = new Set(b.tieNodes.filter((n) => !trained.has(n.input[0])));
  const liveNodes = forwardNodes(b).filter((n) => !unusedTieNodes.has(n));
  const shapes: Record<string, number[]> = {};
  const staticInputs = b.forward.input.map((i) => {
    const f = b.facts.get(i.name)!;
    shapes[i.name] = f.dims;
    return valueInfoFor(i.name, { dtype: f.dataType, shape: f.dims });
  });
  const input = [...staticInputs, ...params.map((p) => valueInfoFor(p.name, { dtype: DataType.FLOAT, shape: p.dims }))];
  const lossOut = valueInfoFor(b.loss, { dtype: DataType.FLOAT, shape: b.facts.get(b.loss)!.dims });
  const graph = (node: NodeProto[], initializer: TensorProto[], output: ValueInfoProto[]) => withGraph(b.base, b.opset, { ...b.forward, node, initializer, input, output, valueInfo: [] });
  return {
    train: graph([...liveNodes, ...b.grad.nodes], [...keepInits, ...b.grad.initializers], [lossOut, ...gradOutputs]),
    evaluate: graph(liveNodes, keepInits, [lossOut]),
    params,
    tied: usedTies,
    inputs: b.forward.input.map((i) => i.name),
    loss: b.loss,
    scale: b.scale,
    shapes,
  };
}

function withGraph(proto: ModelProto, opset: number, graph: GraphProto): ModelProto {
  return {
    ...proto,
    irVersion: proto.irVersion < 8n ? 8n : proto.irVersion,
    opsetImport: proto.opsetImport.map((o) => (isDefaultDomain(o.domain) ? { ...o, version: BigInt(opset) } : o)),
    graph,
  };
}
