/**
 * Which op types a graph holds (with domain and the opset it imports for that domain), and
 * which of them an execution provider has no kernel for, read from onnxruntime's kernel table
 * (docs/OperatorKernels.md, kept as data in bench/gpu/cuda-kernels.json). A node with no kernel
 * on the CUDA provider runs on the CPU, with a copy of its inputs and outputs across the bus.
 */
import type { GraphProto, ModelProto } from "onnx-buf";

export interface OpUse {
  /** "ai.onnx" for the default domain. */
  domain: string;
  opType: string;
  /** The model's opset import for the domain. */
  opset: number;
  nodes: number;
}

export interface KernelTable {
  provider: string;
  source: string;
  onnxruntime: string;
  /** domain -> op -> opset ranges as the doc writes them ("13+", "[6, 12]", "13"). */
  domains: Record<string, Record<string, string[]>>;
}

const DEFAULT_DOMAIN = "ai.onnx";

/**
 * Ops onnxruntime handles while loading the graph, so no provider needs a kernel: Constant
 * nodes become initializers when the graph is resolved.
 */
const RESOLVED_AT_LOAD = new Set([`${DEFAULT_DOMAIN}:Constant`]);

export function domainName(domain: string): string {
  return domain === "" ? DEFAULT_DOMAIN : domain;
}

/** Op types of a model's graph and its subgraphs (If, Loop, Scan bodies), counted by node. */
export function opUses(model: ModelProto): OpUse[] {
  const opsets = new Map(model.opsetImport.map((o) => [domainName(o.domain), Number(o.version)]));
  const counts = new Map<string, OpUse>();
  const visit = (graph: GraphProto) => {
    for (const node of graph.node) {
      const domain = domainName(node.domain);
      const key = `${domain}:${node.opType}`;
      const use = counts.get(key) ?? { domain, opType: node.opType, opset: opsets.get(domain) ?? 0, nodes: 0 };
      use.nodes++;
      counts.set(key, use);
      for (const a of node.attribute) for (const g of a.g ? [a.g, ...a.graphs] : a.graphs) visit(g);
    }
  };
  if (model.graph) visit(model.graph);
  return [...counts.values()].sort((a, b) => a.domain.localeCompare(b.domain) || a.opType.localeCompare(b.opType));
}

/** "13+" -> [13, Infinity], "[6, 12]" -> [6, 12], "13" -> [13, 13]. */
export function parseOpsetRange(text: string): [number, number] {
  const t = text.trim();
  let m = /^(\d+)\+$/.exec(t);
  if (m) return [Number(m[1]), Infinity];
  m = /^\[(\d+),\s*(\d+)\]$/.exec(t);
  if (m) return [Number(m[1]), Number(m[2])];
  m = /^(\d+)$/.exec(t);
  if (m) return [Number(m[1]), Number(m[1])];
  throw new Error(`kernel table: cannot read the opset range ${JSON.stringify(text)}`);
}

/**
 * Whether the table has a kernel for the op at the model's opset. Kernels are registered per
 * range of the op's schema versions and the ranges of one op are contiguous, so the model's
 * opset falls in a range exactly when the schema version it selects does. Types are not
 * compared (the table's types column is not kept): the GPU run's placement log covers them.
 */
export function hasKernel(table: KernelTable, use: Pick<OpUse, "domain" | "opType" | "opset">): boolean {
  if (RESOLVED_AT_LOAD.has(`${use.domain}:${use.opType}`)) return true;
  const ranges = table.domains[use.domain]?.[use.opType];
  if (!ranges) return false;
  return ranges.some((r) => {
    const [lo, hi] = parseOpsetRange(r);
    return use.opset >= lo && use.opset <= hi;
  });
}

export interface GraphOps {
  /** What the graph is (e.g. "decoder: training graph"). */
  graph: string;
  ops: OpUse[];
}

export interface Fallback extends OpUse {
  /** The graphs that hold the op. */
  graphs: string[];
}

/** The ops of all graphs with no kernel in the table, merged by domain, op and opset. */
export function fallbacks(table: KernelTable, graphs: readonly GraphOps[]): Fallback[] {
  const out = new Map<string, Fallback>();
  for (const g of graphs) {
    for (const use of g.ops) {
      if (hasKernel(table, use)) continue;
      const key = opKey(use);
      const f = out.get(key) ?? { ...use, nodes: 0, graphs: [] };
      f.nodes += use.nodes;
      f.graphs.push(g.graph);
      out.set(key, f);
    }
  }
  return [...out.values()].sort((a, b) => opKey(a).localeCompare(opKey(b)));
}

/** "ai.onnx:Gelu@20". */
export function opKey(use: Pick<OpUse, "domain" | "opType" | "opset">): string {
  return `${use.domain}:${use.opType}@${use.opset}`;
}
