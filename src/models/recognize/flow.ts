import type { NodeProto } from "onnx-buf";
import type { GraphIndex } from "./graph.ts";
import type { Linear } from "./linears.ts";
import { isNormOp } from "./norms.ts";

// Walks along the data flow between recognised matrices: how an MLP's two matrices connect,
// whether one tensor reaches another, which matrices a norm feeds or is fed by.

/** Ops an MLP's hidden activation passes through between its two matrices. */
const ACTIVATION_PATH = new Set([
  "Add", "Mul", "Div", "Sub", "Pow", "Erf", "Tanh", "Sigmoid", "Relu", "Gelu", "FastGelu", "BiasGelu", "QuickGelu",
  "Cast", "Identity", "Reshape", "Softplus", "Clip", "HardSigmoid", "Mish", "Elu", "LeakyRelu",
]);
const NONLINEAR = new Set(["Erf", "Tanh", "Sigmoid", "Relu", "Gelu", "FastGelu", "BiasGelu", "QuickGelu", "Softplus", "Elu", "LeakyRelu"]);

export function reachThroughActivation(index: GraphIndex, from: Linear, byInput: Map<string, Linear[]>): { target: Linear; nonlinear: boolean } | undefined {
  const queue = [from.output];
  const seen = new Set<string>();
  // Whether anything non-linear lies on the way: the gate of a gated MLP goes through SiLU, "up" does not.
  let nonlinear = false;
  while (queue.length && seen.size < 40) {
    const tensor = queue.shift()!;
    if (seen.has(tensor)) continue;
    seen.add(tensor);
    const hit = byInput.get(tensor)?.find((l) => l !== from);
    if (hit && tensor !== from.input) return { target: hit, nonlinear };
    for (const r of index.consumers.get(tensor) ?? []) {
      if (!ACTIVATION_PATH.has(r.opType)) continue;
      // A residual Add joins the block's output to the stream: the MLP ends there.
      if (r.opType === "Add" && r.input.every((i) => i && index.producer.has(i) && index.producer.get(i)!.opType !== "Constant")) {
        const other = r.input.find((i) => i !== tensor)!;
        if (!sharesOrigin(index, other, from.output)) continue;
      }
      if (NONLINEAR.has(r.opType)) nonlinear = true;
      for (const o of r.output) if (o) queue.push(o);
    }
  }
  return undefined;
}

/** GELU's x * (1 + erf(x/sqrt2)) multiplies two values that both come from the same product. */
function sharesOrigin(index: GraphIndex, tensor: string, origin: string): boolean {
  const seen = new Set<string>();
  const stack = [tensor];
  while (stack.length && seen.size < 12) {
    const t = stack.pop()!;
    if (t === origin) return true;
    if (seen.has(t)) continue;
    seen.add(t);
    const p = index.producer.get(t);
    if (p) for (const i of p.input) if (i) stack.push(i);
  }
  return false;
}

export function reaches(index: GraphIndex, from: string, to: string, limit = 60): boolean {
  const seen = new Set<string>();
  const queue = [from];
  while (queue.length && seen.size < limit) {
    const t = queue.shift()!;
    if (t === to) return true;
    if (seen.has(t)) continue;
    seen.add(t);
    for (const r of index.consumers.get(t) ?? []) for (const o of r.output) if (o) queue.push(o);
  }
  return false;
}

/** Linears the norm's output reaches without crossing a residual join or another norm. */
export function forwardLinears(index: GraphIndex, node: NodeProto, linears: Linear[]): Linear[] {
  const byInput = new Map<string, Linear[]>();
  for (const l of linears) byInput.set(l.input, [...(byInput.get(l.input) ?? []), l]);
  const found = new Set<Linear>();
  const seen = new Set<string>();
  const queue = node.opType.startsWith("Skip") || node.opType === "EmbedLayerNormalization" ? [node.output[0]] : [...node.output];
  while (queue.length && seen.size < 200) {
    const t = queue.shift()!;
    if (!t || seen.has(t)) continue;
    seen.add(t);
    const hit = byInput.get(t);
    if (hit) {
      hit.forEach((l) => found.add(l));
      continue;
    }
    for (const r of index.consumers.get(t) ?? []) {
      if (isNormOp(r)) continue;
      if (r.opType === "Add" && r.input.filter((i) => i && index.producer.has(i)).length === 2 && !sharesOrigin(index, r.input.find((i) => i !== t)!, node.output[0])) continue;
      for (const o of r.output) queue.push(o);
    }
  }
  return [...found];
}

/** The latest linear (in graph order) whose output flows into the norm. */
export function backwardLinears(index: GraphIndex, node: NodeProto, linearAt: Map<string, Linear>): Linear | undefined {
  let best: Linear | undefined;
  const seen = new Set<string>();
  const queue = node.input.filter((i) => i && !index.initializers.has(i));
  while (queue.length && seen.size < 400) {
    const t = queue.shift()!;
    if (seen.has(t)) continue;
    seen.add(t);
    const hit = linearAt.get(t);
    if (hit) {
      if (!best || index.order.get(hit.node)! > index.order.get(best.node)!) best = hit;
      continue;
    }
    const p = index.producer.get(t);
    if (p) for (const i of p.input) if (i && !index.initializers.has(i)) queue.push(i);
  }
  return best;
}

