import { clone, create } from "@bufbuild/protobuf";
import { ModelProtoSchema, StringStringEntryProtoSchema, type AttributeProto, type GraphProto, type NodeProto, type TensorProto, type ValueInfoProto } from "onnx-buf";
import { namesOf } from "./names.ts";
import { OnnxFormatError } from "./errors.ts";
import { graphOf, type OnnxModel } from "./model.ts";

/** value name -> the node that produces it. Graph inputs and initializers have no producer. */
export function producers(graph: GraphProto): Map<string, NodeProto> {
  const out = new Map<string, NodeProto>();
  for (const node of graph.node) for (const name of node.output) if (name) out.set(name, node);
  return out;
}

/** value name -> the nodes that read it (a node reading a value twice is listed once). */
export function consumers(graph: GraphProto): Map<string, NodeProto[]> {
  const out = new Map<string, NodeProto[]>();
  for (const node of graph.node) {
    for (const name of new Set(nodeInputs(node))) {
      if (!name) continue;
      let list = out.get(name);
      if (!list) out.set(name, (list = []));
      list.push(node);
    }
  }
  return out;
}

/**
 * Every value a node reads: its inputs and, for nodes with subgraphs (If, Loop, Scan,
 * BeamSearch), the outer-scope values those subgraphs use without defining them. Without the
 * latter, a topological order could put an If before the value its branch reads.
 */
export function nodeInputs(node: NodeProto): string[] {
  const names = node.input.filter((n) => n !== "");
  for (const attribute of node.attribute) {
    for (const g of attribute.g ? [attribute.g, ...attribute.graphs] : attribute.graphs) names.push(...outerScopeReads(g));
  }
  return names;
}

function outerScopeReads(graph: GraphProto): string[] {
  const defined = new Set<string>([...graph.input.map((v) => v.name), ...graph.initializer.map((t) => t.name)]);
  for (const node of graph.node) for (const o of node.output) defined.add(o);
  const reads = new Set<string>();
  for (const node of graph.node) for (const name of nodeInputs(node)) if (name && !defined.has(name)) reads.add(name);
  return [...reads];
}

/**
 * The graph's nodes in an order where every node comes after the producers of its inputs
 * (Kahn's algorithm, stable: among ready nodes, file order is kept). A cycle or a value that
 * nothing defines is an OnnxFormatError naming a node involved.
 */
export function topologicalOrder(graph: GraphProto, file = "<graph>"): NodeProto[] {
  const available = new Set<string>([...graph.input.map((v) => v.name), ...graph.initializer.map((t) => t.name)]);
  const made = producers(graph);
  const waiting = new Map<NodeProto, number>();
  const readers = new Map<string, NodeProto[]>();
  const ready: number[] = [];
  const index = new Map<NodeProto, number>();
  graph.node.forEach((node, i) => {
    index.set(node, i);
    const missing = new Set(nodeInputs(node).filter((n) => !available.has(n)));
    for (const name of missing) {
      if (!made.has(name)) {
        throw new OnnxFormatError(file, `node ${describe(node)}`, `input ${JSON.stringify(name)} is not a graph input, an initializer or any node's output`);
      }
      let list = readers.get(name);
      if (!list) readers.set(name, (list = []));
      list.push(node);
    }
    waiting.set(node, missing.size);
    if (missing.size === 0) ready.push(i);
  });
  const order: NodeProto[] = [];
  // A binary heap keeps "lowest file index first" without sorting the ready list every step.
  const heap = new MinHeap(ready);
  while (heap.size > 0) {
    const node = graph.node[heap.pop()];
    order.push(node);
    for (const name of node.output) {
      if (!name || made.get(name) !== node) continue;
      for (const reader of readers.get(name) ?? []) {
        const left = waiting.get(reader)! - 1;
        waiting.set(reader, left);
        if (left === 0) heap.push(index.get(reader)!);
      }
    }
  }
  if (order.length !== graph.node.length) {
    const stuck = graph.node.find((n) => waiting.get(n)! > 0)!;
    throw new OnnxFormatError(file, `node ${describe(stuck)}`, "is part of a cycle (or reads a value produced inside one); ONNX graphs must be acyclic");
  }
  return order;
}

class MinHeap {
  private items: number[] = [];
  constructor(initial: number[]) {
    for (const x of initial) this.push(x);
  }
  get size(): number {
    return this.items.length;
  }
  push(x: number): void {
    const a = this.items;
    a.push(x);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p] <= a[i]) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): number {
    const a = this.items;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l] < a[m]) m = l;
        if (r < a.length && a[r] < a[m]) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

export function describe(node: NodeProto): string {
  return `${JSON.stringify(node.name || node.output[0] || "?")} (${node.domain ? `${node.domain}:` : ""}${node.opType})`;
}

/** Sorts a graph's nodes in place into topological order (writers of ONNX require it). */
export function sortGraph(graph: GraphProto, file?: string): void {
  graph.node = topologicalOrder(graph, file);
}

// ---------------------------------------------------------------------------------------------
// Attributes (read; src/onnx/emit.ts makes them)

export function getAttribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

export function attributeInt(node: NodeProto, name: string, fallback: number): number;
export function attributeInt(node: NodeProto, name: string): number | undefined;
export function attributeInt(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = getAttribute(node, name);
  return a ? Number(a.i) : fallback;
}

export function attributeInts(node: NodeProto, name: string): number[] | undefined {
  const a = getAttribute(node, name);
  return a ? a.ints.map(Number) : undefined;
}

export function attributeFloat(node: NodeProto, name: string, fallback: number): number {
  const a = getAttribute(node, name);
  return a ? a.f : fallback;
}

export function attributeString(node: NodeProto, name: string): string | undefined {
  const a = getAttribute(node, name);
  return a ? new TextDecoder().decode(a.s) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Editing

export function initializerMap(graph: GraphProto): Map<string, TensorProto> {
  return new Map(graph.initializer.map((t) => [t.name, t]));
}

export function findInitializer(graph: GraphProto, name: string): TensorProto | undefined {
  return graph.initializer.find((t) => t.name === name);
}

/** Replaces the initializer of the same name; the new tensor keeps its place in the list. */
export function replaceInitializer(graph: GraphProto, tensor: TensorProto, file = "<graph>"): TensorProto {
  const i = graph.initializer.findIndex((t) => t.name === tensor.name);
  if (i < 0) throw new OnnxFormatError(file, `initializer ${JSON.stringify(tensor.name)}`, "does not exist, so it cannot be replaced");
  const old = graph.initializer[i];
  graph.initializer[i] = tensor;
  return old;
}

export function addInitializer(graph: GraphProto, tensor: TensorProto, file = "<graph>"): void {
  const names = namesOf(graph);
  if (graph.initializer.some((t) => t.name === tensor.name) || producers(graph).has(tensor.name)) {
    throw new OnnxFormatError(file, `initializer ${JSON.stringify(tensor.name)}`, "the name is already used in the graph");
  }
  names.reserve(tensor.name);
  graph.initializer.push(tensor);
}

/**
 * Removes an initializer, and its entry in graph.input where old exporters (IR < 4) list
 * initializers as inputs. Refuses while a node still reads it.
 */
export function removeInitializer(graph: GraphProto, name: string, file = "<graph>"): TensorProto {
  const i = graph.initializer.findIndex((t) => t.name === name);
  if (i < 0) throw new OnnxFormatError(file, `initializer ${JSON.stringify(name)}`, "does not exist");
  const reader = graph.node.find((n) => nodeInputs(n).includes(name));
  if (reader) throw new OnnxFormatError(file, `initializer ${JSON.stringify(name)}`, `is still read by node ${describe(reader)}`);
  const [removed] = graph.initializer.splice(i, 1);
  graph.input = graph.input.filter((v) => v.name !== name);
  return removed;
}

/** Points every reader of `from` at `to` (graph outputs included). */
export function replaceUses(graph: GraphProto, from: string, to: string): void {
  for (const node of graph.node) node.input = node.input.map((n) => (n === from ? to : n));
  for (const o of graph.output) if (o.name === from) o.name = to;
}

/**
 * Exposes intermediate values as graph outputs ("taps") so one onnxruntime run returns them.
 * `types` supplies each value's ValueInfoProto (`valueInfoFor` of emit.ts, or infer.ts's `tapInfos`); values that
 * are already outputs are left alone. Returns the names actually added.
 */
export function addGraphOutputs(graph: GraphProto, infos: readonly ValueInfoProto[], file = "<graph>"): string[] {
  const known = new Set<string>([...graph.input.map((v) => v.name), ...graph.initializer.map((t) => t.name), ...producers(graph).keys()]);
  const outputs = new Set(graph.output.map((o) => o.name));
  const added: string[] = [];
  for (const info of infos) {
    if (!known.has(info.name)) throw new OnnxFormatError(file, `tap ${JSON.stringify(info.name)}`, "no value of that name exists in the graph");
    if (outputs.has(info.name)) continue;
    graph.output.push(info);
    outputs.add(info.name);
    added.push(info.name);
  }
  return added;
}

/**
 * A copy of a model whose graph structure (nodes, inputs, outputs, initializer list and each
 * initializer's metadata) can be edited freely, while tensor bytes are shared with the
 * original: a 2 GB model is cloned in microseconds and without a second copy of its weights.
 * Replace a tensor's data (setFloat32) rather than writing into a shared view.
 */
export function cloneModel(model: OnnxModel): OnnxModel {
  const graph = graphOf(model);
  const stripped = shallowMessage(model.proto);
  stripped.graph = shallowMessage(graph);
  stripped.graph.initializer = [];
  const proto = clone(ModelProtoSchema, stripped);
  proto.graph!.initializer = graph.initializer.map((t) => {
    const copy = shallowMessage(t);
    copy.dims = [...t.dims];
    copy.externalData = t.externalData.map((e) => create(StringStringEntryProtoSchema, { key: e.key, value: e.value }));
    return copy;
  });
  return { file: model.file, dir: model.dir, proto };
}

/**
 * A shallow copy of a protobuf message that keeps its prototype. ONNX's schema is proto2:
 * @bufbuild/protobuf keeps the defaults of unset fields on the prototype and treats own
 * properties as set, so `{ ...message }` would both lose the defaults (reads give undefined)
 * and, once a default is assigned back, encode it as present (an empty raw_data that
 * onnxruntime then reads instead of int64_data).
 */
export function shallowMessage<T extends object>(message: T): T {
  return Object.assign(Object.create(Object.getPrototypeOf(message) as object) as T, message);
}
