/**
 * AdamW as an ONNX graph, run by onnxruntime after the training graph: the same update as
 * adamwStep (./optimizer.ts) — global-norm clipping, both moments, bias correction, decoupled
 * weight decay, pruned coordinates held at exactly zero — in standard ops with CPU and CUDA
 * kernels, so that a step runs no JavaScript loop over the weights. Values and moments are
 * inputs and the updated ones outputs: the caller swaps the returned tensors in.
 *
 * The algebra is arranged for few passes over memory (each op reads and writes every weight):
 *   m' = b1 m + ((1 - b1) c) g,  v' = b2 v + ((1 - b2) c^2) g^2     (c: clip factor)
 *   w' = (1 - lr wd) w - s m' / (sqrt(v') + eps sqrt(c2)),  s = lr sqrt(c2) / c1
 * which equals lr (m'/c1) / (sqrt(v'/c2) + eps) with c1 = 1 - b1^t, c2 = 1 - b2^t. A pruned
 * coordinate's gradient is zeroed first, so its moments stay 0 and its update is 0/eps = 0: the
 * weight stays exactly 0 (it was zeroed when the state was made) and adds nothing to the norm.
 */
import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema, type ModelProto } from "onnx-buf";
import { DataType } from "../onnx/dtype.ts";
import { Emitter, modelOf, valueInfoFor } from "../onnx/emit.ts";
import type { AdamWOptions, ParamState } from "./optimizer.ts";
import type * as ort from "onnxruntime-node";
import { openSession, Tensor, type SessionOptions } from "../eval/session.ts";

export interface OptimizedParam {
  name: string;
  /** Element count: the update is elementwise, so every tensor is fed flat. */
  size: number;
  /** Decoupled weight decay applies (matrices; not biases or norms). */
  decay: boolean;
  /** A pruning mask is fed (bool, true = trained). */
  masked: boolean;
}

export interface OptimizerGraphOptions extends AdamWOptions {
  params: OptimizedParam[];
  /** Gradient inputs per parameter, summed in the graph (gradient accumulation; default 1). */
  accumulate?: number;
}

export interface OptimizerSlots {
  value: string;
  m: string;
  v: string;
  /** One per accumulated micro-batch. */
  grads: string[];
  mask?: string;
  newValue: string;
  newM: string;
  newV: string;
}

export interface OptimizerGraph {
  proto: ModelProto;
  /** Input and output names per parameter, in the order of `params`. */
  slots: OptimizerSlots[];
  /** float64 scalar inputs: the learning rate and the 1-based step count (bias correction). */
  lr: string;
  step: string;
  /** fp32 scalar output: the global gradient norm before clipping (pruned coordinates excluded). */
  gradNorm: string;
}

const OPSET = 17;
const PREFIX = "prunebench_adamw/";

export function buildOptimizerGraph(options: OptimizerGraphOptions): OptimizerGraph {
  const b1 = options.beta1 ?? 0.9;
  const b2 = options.beta2 ?? 0.999;
  const eps = options.eps ?? 1e-8;
  const wd = options.weightDecay ?? 0;
  const clipNorm = options.clipNorm ?? 0;
  const accumulate = Math.max(1, options.accumulate ?? 1);
  // With eps = 0 a pruned coordinate's update would be 0/0.
  if (!(eps > 0)) throw new RangeError(`AdamW eps must be positive (got ${eps})`);
  const lr = `${PREFIX}lr`;
  const step = `${PREFIX}step`;
  const gradNorm = `${PREFIX}grad_norm`;
  const inputs = [valueInfoFor(lr, { dtype: DataType.DOUBLE, shape: [] }), valueInfoFor(step, { dtype: DataType.DOUBLE, shape: [] })];
  const outputs = [valueInfoFor(gradNorm, { dtype: DataType.FLOAT, shape: [] })];

  const slots: OptimizerSlots[] = options.params.map((p, k) => {
    const at = (kind: string) => `${PREFIX}${kind}/${k}:${p.name}`;
    const slot: OptimizerSlots = {
      value: at("value"),
      m: at("m"),
      v: at("v"),
      grads: Array.from({ length: accumulate }, (_, j) => at(accumulate > 1 ? `grad${j}` : "grad")),
      mask: p.masked ? at("mask") : undefined,
      newValue: at("new_value"),
      newM: at("new_m"),
      newV: at("new_v"),
    };
    for (const name of [slot.value, slot.m, slot.v, ...slot.grads]) inputs.push(valueInfoFor(name, { dtype: DataType.FLOAT, shape: [p.size] }));
    if (slot.mask) inputs.push(valueInfoFor(slot.mask, { dtype: DataType.BOOL, shape: [p.size] }));
    for (const name of [slot.newValue, slot.newM, slot.newV]) outputs.push(valueInfoFor(name, { dtype: DataType.FLOAT, shape: [p.size] }));
    return slot;
  });
  // Inputs and outputs first, so that no name the emitter makes can be one of theirs.
  const graph = create(GraphProtoSchema, { name: "adamw", input: inputs, output: outputs });
  const e = new Emitter(graph, { prefix: PREFIX, opset: OPSET });

  // Gradients (summed, masked) and the global norm.
  const grads = slots.map((s) => {
    const g = s.grads.length > 1 ? e.op("Sum", s.grads) : s.grads[0];
    return s.mask ? e.op("Where", [s.mask, g, e.scalar(0)]) : g;
  });
  const squares = grads.map((g) => e.op("ReduceSumSquare", [g], { keepdims: 0 }));
  const norm = named(e, "Sqrt", [squares.length > 1 ? e.op("Sum", squares) : squares[0]], gradNorm);

  // Scalars of this step, in float64 as adamwStep computes them: 1 - b2^t in float32 would
  // lose five digits to cancellation (1 - 0.999f = 0.00099998713).
  const c1 = e.op("Sub", [e.double(1), e.op("Pow", [e.double(b1), step])]);
  const sqrtC2 = e.op("Sqrt", [e.op("Sub", [e.double(1), e.op("Pow", [e.double(b2), step])])]);
  const stepSize = e.op("Div", [e.mul(lr, sqrtC2), c1]);
  const epsHat = e.mul(e.double(eps), sqrtC2);
  // Clip factor min(1, clipNorm / norm): 1 when the norm is within bounds (or 0).
  const norm64 = e.op("Cast", [norm], { to: DataType.DOUBLE });
  const clip = clipNorm > 0 ? e.op("Min", [e.double(1), e.op("Div", [e.double(clipNorm), norm64])]) : undefined;
  const a1 = clip ? e.mul(e.double(1 - b1), clip) : e.double(1 - b1);
  const a2 = clip ? e.mul(e.double(1 - b2), e.mul(clip, clip)) : e.double(1 - b2);
  const keep = wd > 0 ? e.op("Sub", [e.double(1), e.mul(lr, e.double(wd))]) : undefined;
  const float = (x: string) => e.op("Cast", [x], { to: DataType.FLOAT });
  const [f1, f2, fStep, fEps] = [a1, a2, stepSize, epsHat].map(float);
  const fKeep = keep && float(keep);

  options.params.forEach((p, k) => {
    const s = slots[k];
    const g = grads[k];
    const m = named(e, "Add", [e.mul(s.m, e.scalar(b1)), e.mul(g, f1)], s.newM);
    const v = named(e, "Add", [e.mul(s.v, e.scalar(b2)), e.mul(e.mul(g, g), f2)], s.newV);
    const update = e.op("Div", [m, e.op("Add", [e.op("Sqrt", [v]), fEps])]);
    const decayed = p.decay && fKeep ? e.mul(s.value, fKeep) : s.value;
    named(e, "Sub", [decayed, e.mul(update, fStep)], s.newValue);
  });

  return { proto: modelOf(graph, OPSET), slots, lr, step, gradNorm };
}

/** One node whose output is the given (graph output) name, so no Identity copies it there. */
function named(e: Emitter, opType: string, inputs: string[], output: string): string {
  return e.add({ opType, inputs, outputs: [output] }).output[0];
}

/**
 * Runs the optimizer graph over a set of parameter states. Each step feeds the current values
 * and moments and swaps the returned tensors into the states, so no loop in JavaScript touches
 * the weights; the gradient tensors come straight from the training session's outputs.
 */
export class GraphAdamW {
  private constructor(
    private readonly states: ParamState[],
    private readonly graph: OptimizerGraph,
    private readonly session: ort.InferenceSession,
    private readonly masks: (ort.Tensor | undefined)[],
  ) {}

  static async create(states: ParamState[], options: AdamWOptions & { accumulate?: number }, session?: SessionOptions): Promise<GraphAdamW> {
    const params = states.map((s) => ({ name: s.name, size: s.value.length, decay: s.decay, masked: !!s.mask }));
    const graph = buildOptimizerGraph({ ...options, params });
    const masks = states.map((s) => (s.mask ? new Tensor("bool", s.mask, [s.mask.length]) : undefined));
    return new GraphAdamW(states, graph, await openSession(graph.proto, session), masks);
  }

  /**
   * One update from `grads[micro][param]` (any shape: they are viewed flat, not copied) at
   * learning rate `lr`; `t` is the 1-based step. Returns the gradient norm before clipping.
   */
  async step(grads: ort.Tensor[][], lr: number, t: number): Promise<number> {
    const { graph, states } = this;
    const feeds: Record<string, ort.Tensor> = { [graph.lr]: scalar(lr), [graph.step]: scalar(t) };
    graph.slots.forEach((slot, k) => {
      const s = states[k];
      feeds[slot.value] = flat(s.value);
      feeds[slot.m] = flat(s.m);
      feeds[slot.v] = flat(s.v);
      slot.grads.forEach((name, j) => (feeds[name] = flat(grads[j][k].data as Float32Array)));
      if (slot.mask) feeds[slot.mask] = this.masks[k]!;
    });
    const out = await this.session.run(feeds);
    graph.slots.forEach((slot, k) => {
      const s = states[k];
      s.value = out[slot.newValue].data as Float32Array;
      s.m = out[slot.newM].data as Float32Array;
      s.v = out[slot.newV].data as Float32Array;
    });
    return out[graph.gradNorm].data[0] as number;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

function scalar(value: number): ort.Tensor {
  return new Tensor("float64", new Float64Array([value]), []);
}

function flat(data: Float32Array): ort.Tensor {
  return new Tensor("float32", data, [data.length]);
}
