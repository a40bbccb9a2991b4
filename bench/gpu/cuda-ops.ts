/**
 * Lists every op type (domain, opset) in the project's graphs and in any model files given,
 * and which of them the CUDA execution provider has no kernel for (they would run on the CPU).
 *
 *   node --import tsx bench/gpu/cuda-ops.ts [model.onnx ...] [--json]
 *
 * A model file is listed as read and with the loss graph added (its family guessed from its
 * inputs). Exits 0; the test (test/gpu-cuda-ops.test.ts) fails on a fallback it does not know.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { addLossGraph } from "../../src/eval/loss-graph.ts";
import type { Family } from "../../src/models/types.ts";
import { readModel } from "../../src/onnx/index.ts";
import { graphOf } from "../../src/onnx/model.ts";
import { fallbacks, hasKernel, opKey, opUses, type GraphOps, type KernelTable } from "../../src/onnx/op-inventory.ts";
import { projectGraphOps } from "./graphs.ts";

const here = path.dirname(fileURLToPath(import.meta.url));

export function cudaKernelTable(): KernelTable {
  return JSON.parse(readFileSync(path.join(here, "cuda-kernels.json"), "utf8")) as KernelTable;
}

function familyOf(inputs: string[]): Family {
  if (inputs.includes("decoder_input_ids")) return "encoder-decoder";
  if (inputs.includes("token_type_ids")) return "encoder";
  return "decoder";
}

function fileGraphOps(file: string): GraphOps[] {
  const model = readModel(file);
  const name = path.relative(process.cwd(), file);
  const out: GraphOps[] = [{ graph: `${name}: as read`, ops: opUses(model.proto) }];
  const graph = graphOf(model);
  const inputs = graph.input.map((i) => i.name);
  try {
    out.push({ graph: `${name}: loss graph`, ops: opUses(addLossGraph(model, { family: familyOf(inputs) }).model.proto) });
  } catch (error) {
    console.error(`${name}: no loss graph (${(error as Error).message})`);
  }
  return out;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes("--json");
  const files = args.filter((a) => a !== "--json");
  const table = cudaKernelTable();
  const graphs = [...(await projectGraphOps()), ...files.flatMap(fileGraphOps)];
  const all = new Map<string, { key: string; nodes: number; graphs: number; cuda: boolean }>();
  for (const g of graphs) {
    for (const use of g.ops) {
      const key = opKey(use);
      const row = all.get(key) ?? { key, nodes: 0, graphs: 0, cuda: hasKernel(table, use) };
      row.nodes += use.nodes;
      row.graphs++;
      all.set(key, row);
    }
  }
  const rows = [...all.values()].sort((a, b) => a.key.localeCompare(b.key));
  const missing = fallbacks(table, graphs);
  if (json) {
    process.stdout.write(`${JSON.stringify({ table: { source: table.source, onnxruntime: table.onnxruntime }, graphs: graphs.map((g) => g.graph), ops: rows, fallbacks: missing }, null, 2)}\n`);
    return;
  }
  console.log(`${rows.length} op types in ${graphs.length} graphs; CUDA kernels from ${table.source} (onnxruntime ${table.onnxruntime})`);
  for (const r of rows) console.log(`  ${r.cuda ? "cuda" : "CPU "}  ${r.key.padEnd(34)} ${String(r.nodes).padStart(6)} nodes in ${r.graphs} graphs`);
  if (!missing.length) console.log("every op has a CUDA kernel");
  for (const f of missing) console.log(`falls back to CPU: ${opKey(f)} (${f.nodes} nodes) in ${f.graphs.join("; ")}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
