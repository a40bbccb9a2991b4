import type { GraphProto, NodeProto, TensorProto } from "onnx-buf";
import { topologicalOrder } from "../../onnx/graph.ts";
import { graphOf, type OnnxModel } from "../../onnx/model.ts";
import { tensorShape } from "../../onnx/tensor.ts";

/**
 * A read-only index over one graph: who produces and who reads each tensor, which tensors are
 * initializers, and a topological position for every node. Recognition walks the data flow
 * through it instead of trusting names, because exporters rename (or drop the names of)
 * transposed weights.
 */
export interface GraphIndex {
  model: OnnxModel;
  graph: GraphProto;
  nodes: NodeProto[];
  /** Topological position of each node (index into `nodes`). */
  order: Map<NodeProto, number>;
  producer: Map<string, NodeProto>;
  consumers: Map<string, NodeProto[]>;
  initializers: Map<string, TensorProto>;
  shapes: Map<string, number[]>;
  graphInputs: Set<string>;
}

export function indexGraph(model: OnnxModel): GraphIndex {
  const graph = graphOf(model);
  const initializers = new Map(graph.initializer.map((t) => [t.name, t]));
  const shapes = new Map(graph.initializer.map((t) => [t.name, tensorShape(model, t)]));
  const producer = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  for (const node of graph.node) {
    for (const out of node.output) if (out) producer.set(out, node);
    for (const input of node.input) {
      if (!input) continue;
      let list = consumers.get(input);
      if (!list) consumers.set(input, (list = []));
      if (!list.includes(node)) list.push(node);
    }
  }
  // Refuses a cycle, naming a node on it: a model that cannot run is refused when it is read.
  const nodes = topologicalOrder(graph, model.file);
  const order = new Map(nodes.map((n, i) => [n, i]));
  const graphInputs = new Set(graph.input.map((i) => i.name).filter((n) => !initializers.has(n)));
  return { model, graph, nodes, order, producer, consumers, initializers, shapes, graphInputs };
}

export function nodeLabel(index: GraphIndex, node: NodeProto): string {
  return node.name || `${node.opType}#${index.graph.node.indexOf(node)}`;
}

/** The initializer a tensor name refers to, looking through Identity copies. */
export function initializerOf(index: GraphIndex, name: string): TensorProto | undefined {
  for (let i = 0; i < 4; i++) {
    const init = index.initializers.get(name);
    if (init) return init;
    const p = index.producer.get(name);
    if (!p || p.opType !== "Identity") return undefined;
    name = p.input[0];
  }
  return undefined;
}

/** True when a tensor is computed from the graph's inputs (not a weight or a constant). */
export function isActivation(index: GraphIndex, name: string): boolean {
  if (!name) return false;
  if (initializerOf(index, name)) return false;
  const p = index.producer.get(name);
  if (!p) return index.graphInputs.has(name);
  if (p.opType === "Constant") return false;
  return true;
}

export function attrInt(node: NodeProto, name: string): number | undefined {
  const a = node.attribute.find((x) => x.name === name);
  return a ? Number(a.i) : undefined;
}

export function attrString(node: NodeProto, name: string): string | undefined {
  const a = node.attribute.find((x) => x.name === name);
  return a && a.s.length ? new TextDecoder().decode(a.s) : undefined;
}

/**
 * Walks backward from a tensor through nodes accepted by `through`, returning every node on
 * the way (breadth first, up to `limit` nodes).
 */
export function backwardNodes(index: GraphIndex, start: string, through: (n: NodeProto) => boolean, limit = 64): NodeProto[] {
  const seen = new Set<NodeProto>();
  const queue = [start];
  const out: NodeProto[] = [];
  while (queue.length && out.length < limit) {
    const name = queue.shift()!;
    const p = index.producer.get(name);
    if (!p || seen.has(p)) continue;
    seen.add(p);
    out.push(p);
    if (through(p)) for (const i of p.input) if (i) queue.push(i);
  }
  return out;
}

/** Graph inputs a tensor depends on (searching at most `limit` nodes back). */
export function inputsReached(index: GraphIndex, start: string, limit = 200, barriers: Set<string> = new Set()): Set<string> {
  const found = new Set<string>();
  const seen = new Set<string>();
  const queue = [start];
  let visited = 0;
  while (queue.length && visited < limit) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    seen.add(name);
    if (index.graphInputs.has(name)) found.add(name);
    const p = index.producer.get(name);
    if (!p || barriers.has(p.opType)) continue;
    visited++;
    for (const i of p.input) if (i) queue.push(i);
  }
  return found;
}

/** All nodes a tensor is computed from. */
export function ancestors(index: GraphIndex, start: string): Set<NodeProto> {
  const seen = new Set<NodeProto>();
  const stack = [start];
  while (stack.length) {
    const p = index.producer.get(stack.pop()!);
    if (!p || seen.has(p)) continue;
    seen.add(p);
    for (const i of p.input) if (i) stack.push(i);
  }
  return seen;
}
