/**
 * Names for what is added to a graph: one allocator per graph (src/onnx/emit.ts's Emitter and
 * addNode draw from it), so nothing added can take a name the graph already uses.
 */
import type { GraphProto } from "onnx-buf";

/**
 * Hands out names no node, value or initializer of the graph uses yet (subgraphs included),
 * so nodes added by different stages never collide. Every name it has seen or handed out
 * stays taken, even when the node that used it is removed later.
 */
export class NameAllocator {
  private readonly used = new Set<string>();
  /** Nodes, tensors and value infos whose names are in `used`. */
  private readonly seen = new WeakSet<object>();
  /** Each list of the graph as it was last read, so that sync() reads only what is new. */
  private readonly snapshots = new WeakMap<readonly object[], object[]>();
  /** The suffix fresh(base) tries first: every lower one was taken when it last returned. */
  private readonly nextSuffix = new Map<string, number>();
  constructor(graph: GraphProto) {
    this.sync(graph);
  }
  /**
   * Takes in the names of every node, value info and initializer added to the graph since the
   * last call, however it was added: items appended are read alone, and a list changed
   * anywhere else is read again for the items not seen yet. A node edited in place to write a
   * new output is not seen: give such edits their names here first.
   */
  sync(graph: GraphProto): void {
    for (const list of [graph.input, graph.output, graph.valueInfo]) this.syncList(list, (v) => [v.name]);
    this.syncList(graph.initializer, (t) => [t.name]);
    this.syncList(graph.node, (node) => {
      for (const a of node.attribute) for (const g of a.g ? [a.g, ...a.graphs] : a.graphs) this.sync(g);
      return [node.name, ...node.input, ...node.output];
    });
  }
  private syncList<T extends object>(list: readonly T[], names: (item: T) => readonly string[]): void {
    const snapshot = this.snapshots.get(list);
    // Unchanged up to the last read (compared by identity, a swap included): only the tail is new.
    let from = snapshot && snapshot.length <= list.length ? snapshot.length : 0;
    for (let i = 0; i < from; i++) {
      if (list[i] !== snapshot![i]) {
        from = 0;
        break;
      }
    }
    for (let i = from; i < list.length; i++) {
      const item = list[i];
      if (this.seen.has(item)) continue;
      this.seen.add(item);
      for (const n of names(item)) this.used.add(n);
    }
    if (from === 0 || !snapshot) this.snapshots.set(list, list.slice());
    else for (let i = from; i < list.length; i++) snapshot.push(list[i]);
  }
  /** `base` itself when free, else `base_1`, `base_2`, ... */
  fresh(base: string): string {
    let name = base;
    let i = this.nextSuffix.get(base) ?? 1;
    if (i > 1 || this.used.has(name) || name === "") {
      for (name = `${base}_${i}`; this.used.has(name); ) name = `${base}_${++i}`;
      this.nextSuffix.set(base, i + 1);
    }
    this.used.add(name);
    return name;
  }
  reserve(name: string): void {
    this.used.add(name);
  }
}

const allocators = new WeakMap<GraphProto, NameAllocator>();

/**
 * One allocator per graph, so successive emitters and addNode calls see each other's names,
 * brought up to date with whatever was added to the graph by other means since the last call.
 */
export function namesOf(graph: GraphProto): NameAllocator {
  let names = allocators.get(graph);
  if (!names) allocators.set(graph, (names = new NameAllocator(graph)));
  else names.sync(graph);
  return names;
}

