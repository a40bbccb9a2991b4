/**
 * The runner's fingerprint: what makes timings comparable between two result files.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import os from "node:os";
import type { Runner } from "../results/schema.ts";
import { onnxruntimeVersion, type Provider } from "./session.ts";

export interface GpuInfo {
  gpu: string;
  driver: string;
}

/** GPU names and driver from nvidia-smi, or null where there is no NVIDIA GPU (or no nvidia-smi). */
export function queryNvidiaSmi(run: (cmd: string, args: string[]) => string = defaultExec): GpuInfo | null {
  try {
    const out = run("nvidia-smi", ["--query-gpu=name,driver_version", "--format=csv,noheader"]).trim();
    if (!out) return null;
    const rows = out.split("\n").map((line) => line.split(",").map((s) => s.trim()));
    const names = rows.map((r) => r[0]).filter(Boolean);
    if (!names.length) return null;
    const unique = [...new Set(names)];
    const gpu = unique.map((n) => `${names.filter((x) => x === n).length > 1 ? `${names.filter((x) => x === n).length}x ` : ""}${n}`).join(", ");
    return { gpu, driver: rows[0]![1] ?? "unknown" };
  } catch {
    return null;
  }
}

function defaultExec(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "ignore"] });
}

export interface RunnerOptions {
  provider: Provider;
  gpu?: GpuInfo | null;
}

export function runnerFingerprint(options: RunnerOptions): Runner {
  const cpus = os.cpus();
  const gpu = options.gpu === undefined ? queryNvidiaSmi() : options.gpu;
  const base = {
    os: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model.trim() ?? "unknown",
    cores: Math.max(1, typeof os.availableParallelism === "function" ? os.availableParallelism() : cpus.length),
    memoryBytes: os.totalmem(),
    gpu: gpu?.gpu ?? null,
    driver: gpu?.driver ?? null,
    ort: onnxruntimeVersion(),
    node: process.versions.node,
    provider: options.provider,
  };
  // Memory size and Node's version do not change kernel timings; the rest does.
  const key = [base.cpu, base.cores, base.gpu, base.driver, base.ort, base.provider].join("|");
  return { ...base, fingerprint: createHash("sha256").update(key).digest("hex").slice(0, 16) };
}
