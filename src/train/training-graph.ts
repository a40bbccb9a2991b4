/**
 * Builds a training graph from an inference graph: one ONNX model, static shapes, whose
 * trainable float initializers are inputs and whose outputs are the scalar loss and one
 * gradient per trainable tensor. Gradients are emitted node by node in reverse order as plain
 * ONNX ops (rules in ./grad), so onnxruntime runs the backward pass on any execution provider.
 */
import { create } from "@bufbuild/protobuf";
import {
  NodeProtoSchema,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "onnx-buf";
import { addLossGraph } from "../eval/loss-graph.ts";
import type { Family } from "../models/types.ts";
import { DataType, dataTypeName, isFloatType } from "../onnx/dtype.ts";
import { OnnxFormatError } from "../onnx/errors.ts";
import { defaultOpset, makeAttribute, valueInfoFor } from "../onnx/emit.ts";
import { graphOf, type OnnxModel } from "../onnx/model.ts";
import { materialize, readFloat32, readIntegers } from "../onnx/tensor.ts";
import { Emitter } from "./emit.ts";
import { GRAD_RULES, NON_DIFFERENTIABLE, type GradContext } from "./grad/index.ts";
import { ort, type SessionOptions } from "./session.ts";
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
  feeds: Record<string, ort.Tensor>;
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

export async function buildTrainingGraph(options: TrainingGraphOptions): Promise<TrainingGraph> {
  const { model } = options;
  const file = model.file;
  const source = graphOf(model);
  for (const t of source.initializer) materialize(model, t);
  let opset = defaultOpset(model.proto);
  if (opset < 13) throw new OnnxFormatError(file, "opset_import", `ai.onnx opset ${opset} is too old to train (13 or newer is needed)`);

  // 1. The forward graph with its loss.
  let base: ModelProto = model.proto;
  let lossName: string;
  let scale: string | undefined;
  const lossNodes: NodeProto[] = [];
  const lossInits: TensorProto[] = [];
  const extraInputs: ValueInfoProto[] = [];
  if (options.loss.kind === "lm") {
    const withLoss = addLossGraph(model, { family: options.loss.family, logits: options.loss.logits });
    base = withLoss.model.proto;
    const e = new Emitter(`${PREFIX}loss/`, opset);
    const weighted = e.mul(withLoss.nll, LOSS_SCALE);
    lossNodes.push(
      ...e.nodes,
      create(NodeProtoSchema, { name: `${PREFIX}loss_sum`, opType: "ReduceSum", input: [weighted], output: [LOSS_OUTPUT], attribute: [makeAttribute("keepdims", 0)] }),
    );
    lossInits.push(...e.initializers);
    extraInputs.push(valueInfoFor(LOSS_SCALE, { dtype: DataType.FLOAT, shape: [] }));
    lossName = LOSS_OUTPUT;
    scale = LOSS_SCALE;
  } else {
    lossName = options.loss.output;
    if (!source.output.some((o) => o.name === lossName)) throw new OnnxFormatError(file, "graph.output", `has no output ${JSON.stringify(lossName)}`);
  }
  if (opset < 16) opset = 16; // ScatterND/ScatterElements with reduction "add"; 13..15 -> 16 changes no op used by exports.
  const baseGraph = base.graph!;
  const forwardNodes = [...baseGraph.node, ...lossNodes];
  const forwardInits = [...baseGraph.initializer, ...lossInits];
  const dataInputs = [...baseGraph.input.filter((i) => !forwardInits.some((t) => t.name === i.name)), ...extraInputs];
  const forward: ModelProto = withGraph(base, opset, {
    ...baseGraph,
    node: forwardNodes,
    initializer: forwardInits,
    input: dataInputs,
    output: [valueInfoFor(lossName, { dtype: DataType.FLOAT, shape: [] })],
  });

  // 2. Shapes and small integer values of everything, at the training shape.
  const feeds = { ...options.feeds };
  if (scale) feeds[scale] = new ort.Tensor("float32", new Float32Array([1]), []);
  for (const input of dataInputs) {
    if (!(input.name in feeds)) throw new OnnxFormatError(file, "graph.input", `needs a feed for ${JSON.stringify(input.name)} to fix the training shape`);
  }
  const facts = await tapShapes(forward, feeds, options.session);
  for (const t of forwardInits) {
    const f: ValueFacts = { dims: t.dims.map(Number), dataType: t.dataType };
    if ((t.dataType === DataType.INT64 || t.dataType === DataType.INT32) && f.dims.reduce((a, b) => a * b, 1) <= 64) f.ints = readIntegers({ ...model, proto: base }, t);
    facts.set(t.name, f);
  }
  const lossFacts = facts.get(lossName)!;
  if (lossFacts.dims.reduce((a, b) => a * b, 1) !== 1 || lossFacts.dataType !== DataType.FLOAT) {
    throw new OnnxFormatError(file, "loss", `${JSON.stringify(lossName)} must be one fp32 value; it is ${dataTypeName(lossFacts.dataType)} [${lossFacts.dims}]`);
  }

  // 3. Candidates: float initializers; tied copies become a Transpose of their original.
  const sinusoidal = new Set(
    source.initializer
      .filter((t) => t.dataType === DataType.FLOAT && t.dims.length === 2 && isSinusoidal(readFloat32(model, t).data, Number(t.dims[0]), Number(t.dims[1])))
      .map((t) => t.name),
  );
  const chosen = options.trainable ?? ((name: string) => !sinusoidal.has(name));
  const wanted = (name: string) => !options.frozen?.has(name) && chosen(name);
  const original = new Set(source.initializer.map((t) => t.name));
  const floats = forwardInits.filter((t) => original.has(t.name) && (t.dataType === DataType.FLOAT || t.dataType === DataType.FLOAT16 || t.dataType === DataType.BFLOAT16));
  for (const t of floats) {
    if (t.dataType !== DataType.FLOAT && wanted(t.name)) {
      throw new OnnxFormatError(file, `initializer ${JSON.stringify(t.name)}`, `is ${dataTypeName(t.dataType)}; training needs fp32 weights (convert the model to fp32 first)`);
    }
  }
  const fp32 = floats.filter((t) => t.dataType === DataType.FLOAT);
  const tied = options.tie === false ? [] : findTiedCopies(fp32.filter((t) => wanted(t.name)).map((tensor) => ({ tensor, data: readFloat32(model, tensor).data })));
  const copies = new Set(tied.map((t) => t.copy));
  const tieNodes = tied.map((t) =>
    create(NodeProtoSchema, {
      name: `${PREFIX}tie/${t.copy}`,
      opType: t.transposed ? "Transpose" : "Identity",
      input: [t.of],
      output: [t.copy],
      attribute: t.transposed ? [makeAttribute("perm", [1, 0])] : [],
    }),
  );
  const candidates = new Set(fp32.filter((t) => wanted(t.name) && !copies.has(t.name)).map((t) => t.name));

  // 4. Which values depend on a candidate through differentiable inputs.
  const nodes = [...tieNodes, ...forwardNodes];
  const requires = new Set<string>(candidates);
  for (const node of nodes) {
    if (isDefaultDomain(node) && NON_DIFFERENTIABLE.has(node.opType)) continue;
    const rule = isDefaultDomain(node) ? GRAD_RULES.get(node.opType) : undefined;
    const positions = rule && rule.differentiable !== "all" ? rule.differentiable : node.input.map((_, i) => i);
    if (!positions.some((i) => node.input[i] && requires.has(node.input[i]))) continue;
    for (const out of node.output) {
      const f = facts.get(out);
      if (out && f && isFloatType(f.dataType)) requires.add(out);
    }
  }

  // 5. Reverse pass.
  const e = new Emitter(`${PREFIX}grad/`, opset);
  const grads = new Map<string, string[]>();
  const shapeOf = (name: string) => {
    const f = facts.get(name);
    if (!f) throw new GradientError(`${file}: no shape known for value ${JSON.stringify(name)}`);
    return f.dims;
  };
  const total = (name: string): string | undefined => {
    const list = grads.get(name);
    if (!list || list.length === 0) return undefined;
    if (list.length > 1) grads.set(name, [e.op("Sum", list)]);
    return grads.get(name)![0];
  };
  grads.set(lossName, [e.scalar(1, lossFacts.dims)]);
  for (let n = nodes.length - 1; n >= 0; n--) {
    const node = nodes[n];
    const outGrads = node.output.map((o) => (o && requires.has(o) ? total(o) : undefined));
    if (outGrads.every((g) => g === undefined)) continue;
    if (isDefaultDomain(node) && NON_DIFFERENTIABLE.has(node.opType)) continue;
    const where = `node ${JSON.stringify(node.name || node.output[0])} (${node.domain ? `${node.domain}:` : ""}${node.opType})`;
    if (!isDefaultDomain(node)) {
      throw new GradientError(
        `${file}: ${where} is a fused contrib op; prunebench cannot differentiate fused kernels. Train an export with plain ONNX ops (e.g. torch.onnx.export without onnxruntime's transformer optimizer).`,
      );
    }
    const rule = GRAD_RULES.get(node.opType);
    if (!rule) throw new GradientError(`${file}: no gradient rule for op ${node.opType} at ${where}`);
    const positions = rule.differentiable === "all" ? node.input.map((_, i) => i) : rule.differentiable;
    const wants = (i: number) => positions.includes(i) && !!node.input[i] && requires.has(node.input[i]);
    if (!node.input.some((_, i) => wants(i))) continue;
    const ctx: GradContext = {
      node,
      e,
      dy: (i = 0) => outGrads[i],
      wants,
      shape: shapeOf,
      dtype: (name) => facts.get(name)?.dataType ?? DataType.UNDEFINED,
      ints: (name) => {
        const v = facts.get(name)?.ints;
        if (!v) throw new GradientError(`${file}: ${where} reads ${JSON.stringify(name)}, which is not a small integer tensor known at build time`);
        return v;
      },
      attrInt: (k, fallback) => {
        const a = node.attribute.find((x) => x.name === k);
        return a ? Number(a.i) : fallback;
      },
      attrInts: (k) => node.attribute.find((x) => x.name === k)?.ints.map(Number),
      attrFloat: (k, fallback) => node.attribute.find((x) => x.name === k)?.f ?? fallback,
      fail: (message) => new GradientError(`${file}: ${where}: ${message}`),
    };
    if (outGrads[0] === undefined && !["Split", "LayerNormalization"].includes(node.opType)) continue;
    const result = rule.grad(ctx);
    node.input.forEach((name, i) => {
      if (!wants(i) || !result[i]) return;
      let list = grads.get(name);
      if (!list) grads.set(name, (list = []));
      list.push(result[i]!);
    });
  }

  // 6. Assemble.
  const params: TrainableParam[] = [];
  const gradOutputs: ValueInfoProto[] = [];
  const gradNodes: NodeProto[] = [];
  for (const t of fp32) {
    if (!candidates.has(t.name)) continue;
    const g = total(t.name);
    if (!g) continue;
    const dims = t.dims.map(Number);
    const out = `${PREFIX}grad:${t.name}`;
    gradNodes.push(create(NodeProtoSchema, { name: `${PREFIX}out/${t.name}`, opType: "Identity", input: [g], output: [out] }));
    gradOutputs.push(valueInfoFor(out, { dtype: DataType.FLOAT, shape: dims }));
    params.push({ name: t.name, dims, grad: out });
  }
  if (params.length === 0) throw new GradientError(`${file}: no trainable float initializer reaches the loss`);
  const trained = new Set(params.map((p) => p.name));
  const usedTies = tied.filter((t) => trained.has(t.of));
  const keepInits = forwardInits.filter((t) => !trained.has(t.name) && !usedTies.some((c) => c.copy === t.name));
  const unusedTieNodes = new Set(tieNodes.filter((n) => !trained.has(n.input[0])));
  const liveNodes = nodes.filter((n) => !unusedTieNodes.has(n));
  const shapes: Record<string, number[]> = {};
  const staticInputs = dataInputs.map((i) => {
    const f = facts.get(i.name)!;
    shapes[i.name] = f.dims;
    return valueInfoFor(i.name, { dtype: f.dataType, shape: f.dims });
  });
  const paramInputs = params.map((p) => valueInfoFor(p.name, { dtype: DataType.FLOAT, shape: p.dims }));
  const lossOut = valueInfoFor(lossName, { dtype: DataType.FLOAT, shape: lossFacts.dims });
  const train = withGraph(base, opset, {
    ...baseGraph,
    node: [...liveNodes, ...e.nodes, ...gradNodes],
    initializer: [...keepInits, ...e.initializers],
    input: [...staticInputs, ...paramInputs],
    output: [lossOut, ...gradOutputs],
    valueInfo: [],
  });
  const evaluate = withGraph(base, opset, {
    ...baseGraph,
    node: liveNodes,
    initializer: keepInits,
    input: [...staticInputs, ...paramInputs],
    output: [lossOut],
    valueInfo: [],
  });
  return { train, evaluate, params, tied: usedTies, inputs: dataInputs.map((i) => i.name), loss: lossName, scale, shapes };
}

function withGraph(proto: ModelProto, opset: number, graph: GraphProto): ModelProto {
  return {
    ...proto,
    irVersion: proto.irVersion < 8n ? 8n : proto.irVersion,
    opsetImport: proto.opsetImport.map((o) => (o.domain === "" || o.domain === "ai.onnx" ? { ...o, version: BigInt(opset) } : o)),
    graph,
  };
}

function isDefaultDomain(node: NodeProto): boolean {
  return node.domain === "" || node.domain === "ai.onnx";
}

