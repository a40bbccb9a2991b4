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
