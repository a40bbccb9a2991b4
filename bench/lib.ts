import { spawnSync } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";

/**
 * Benchmarks run one per child process (bench/run.ts), so each one's peak RSS is its own.
 * A benchmark file calls `benchMain(import.meta.url, run)`: run directly, it prints its JSON.
 */
export type BenchResult = Record<string, unknown>;

export function peakRssBytes(): number {
  // resourceUsage().maxRSS is in kilobytes on Linux.
  return process.resourceUsage().maxRSS * 1024;
}

export async function timed<T>(fn: () => T | Promise<T>): Promise<{ value: T; seconds: number }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { value, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

export function benchMain(moduleUrl: string, run: () => Promise<BenchResult>): void {
  if (process.argv[1] && fileURLToPath(moduleUrl) === process.argv[1]) {
    run().then(
      (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
      (error: unknown) => {
        console.error(error);
        process.exitCode = 1;
      },
    );
  }
}

/** The 1-minute load average, beside every timing (the machines are shared). */
export function loadAverage(): number {
  return Number(os.loadavg()[0].toFixed(2));
}

/**
 * A Python with torch for the reference scripts in bench/ (python3 on PATH first, then the
 * system's /usr/bin/python3, where Debian's python3-torch lives), or why there is none.
 */
export function torchPython(): { python: string } | { skipped: string } {
  const tried: string[] = [];
  for (const python of [...new Set(["python3", "/usr/bin/python3"])]) {
    const probe = spawnSync(python, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" });
    if (probe.status === 0) return { python };
    tried.push(`${python}: ${probe.error ? probe.error.message : (probe.stderr.trim().split("\n").pop() ?? `exit ${probe.status}`)}`);
  }
  return { skipped: `no Python with torch (install python3-torch and libopenblas0-pthread); tried ${tried.join("; ")}` };
}

/** Runs a bench/ Python script with one JSON argument and parses the JSON line it prints. */
export function runPythonJson(python: string, script: string, argument: unknown, timeoutMs = 3_600_000): Record<string, unknown> {
  const result = spawnSync(python, [script, JSON.stringify(argument)], { encoding: "utf8", timeout: timeoutMs, maxBuffer: 16 << 20, env: { ...process.env, OMP_NUM_THREADS: "2", OPENBLAS_NUM_THREADS: "2" } });
  if (result.status !== 0) throw new Error(`${script} failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  return JSON.parse(result.stdout.trim().split("\n").pop() ?? "") as Record<string, unknown>;
}
