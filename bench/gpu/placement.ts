/**
 * Which nodes onnxruntime places on the CPU when a session asks for the cuda provider, for
 * every graph of bench/gpu/graphs.ts and any model files given: each graph is written to a
 * temporary file and opened in a child process with verbose logging, whose "Node placements"
 * lines (session_state.cc, VerifyEachNodeIsAssignedToAnEp) are read back.
 *
 *   node --import tsx bench/gpu/placement.ts [model.onnx ...] [--cpu] > placement.json
 *
 * (--cpu asks for the cpu provider only: a dry run of the same path on a machine without a GPU.)
 * Without a usable CUDA provider every node lands on the CPU and `cuda` is false.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema } from "onnx-buf";
import { projectGraphs } from "./graphs.ts";

export interface Placement {
  graph: string;
  /** Nodes per provider, as onnxruntime counts them after its graph optimizations. */
  nodes: Record<string, number>;
  /** The nodes placed on the CPU: "OpType (node name)". */
  onCpu: string[];
  error?: string;
}

/** Reads onnxruntime's verbose "Node placements" block. */
export function parsePlacements(log: string): Pick<Placement, "nodes" | "onCpu"> {
  const nodes: Record<string, number> = {};
  const onCpu: string[] = [];
  let provider: string | null = null;
  for (const line of log.split("\n")) {
    const at = line.indexOf("VerifyEachNodeIsAssignedToAnEp] ");
    if (at < 0) continue;
    // onnxruntime colours its lines on a terminal: drop the escape sequences.
    const text = line.slice(at + "VerifyEachNodeIsAssignedToAnEp] ".length).replace(new RegExp(String.fromCharCode(27) + "\\[[0-9;]*m", "g"), "");
    const m = /(?:All nodes|Node\(s\)) placed on \[(\w+)\]\. Number of nodes: (\d+)/.exec(text);
    if (m) {
      provider = m[1]!;
      nodes[provider] = (nodes[provider] ?? 0) + Number(m[2]);
      continue;
    }
    if (provider === "CPUExecutionProvider" && /^\s{2,}\S/.test(text)) onCpu.push(text.trim());
  }
  return { nodes, onCpu };
}

const CHILD = `
const ort = require("onnxruntime-node");
ort.InferenceSession.create(process.argv[1], { executionProviders: process.argv[2].split(","), logSeverityLevel: 0, logVerbosityLevel: 0 })
  .then(() => process.exit(0), (e) => { process.stdout.write(String(e.message).split("\\n")[0]); process.exit(2); });
`;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Opens one model file in a child process with verbose logging and reads its placements. */
export function placementOf(graph: string, file: string, providers: string[] = ["cuda", "cpu"]): Placement {
  const child = spawnSync(process.execPath, ["-e", CHILD, file, providers.join(",")], { cwd: root, encoding: "utf8", maxBuffer: 1 << 28, timeout: 300_000 });
  const parsed = parsePlacements(child.stderr ?? "");
  return { graph, ...parsed, ...(child.status === 0 ? {} : { error: (child.stdout || child.stderr || `exit ${child.status}`).trim().split("\n")[0] }) };
}

export async function placements(files: string[] = [], providers: string[] = ["cuda", "cpu"]): Promise<Placement[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "prunebench-placement-"));
  try {
    const graphs: Array<{ graph: string; file: string }> = [];
    for (const [i, g] of (await projectGraphs()).entries()) {
      const file = path.join(dir, `graph-${i}.onnx`);
      writeFileSync(file, toBinary(ModelProtoSchema, g.proto));
      graphs.push({ graph: g.graph, file });
    }
    for (const f of files) graphs.push({ graph: `${path.basename(path.dirname(f))}/${path.basename(f)}`, file: path.resolve(f) });
    return graphs.map(({ graph, file }) => placementOf(graph, file, providers));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  placements(args.filter((a) => a !== "--cpu"), args.includes("--cpu") ? ["cpu"] : ["cuda", "cpu"]).then(
    (result) => {
      const cuda = result.some((p) => (p.nodes.CUDAExecutionProvider ?? 0) > 0);
      const cpuOps = new Map<string, number>();
      for (const p of result) for (const n of p.onCpu) cpuOps.set(n.split(" ")[0]!, (cpuOps.get(n.split(" ")[0]!) ?? 0) + 1);
      process.stdout.write(`${JSON.stringify({ cuda, cpuNodesByOp: Object.fromEntries([...cpuOps].sort((a, b) => b[1] - a[1])), graphs: result }, null, 2)}\n`);
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
}
