import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeBuiltModel } from "../src/models/index.ts";
import { readModel } from "../src/onnx/index.ts";
import { measureLatency } from "../src/eval/latency.ts";
import { runnerFingerprint } from "../src/eval/runner.ts";
import { createSession, type Provider } from "../src/eval/session.ts";
import { benchMain, peakRssBytes } from "./lib.ts";

/**
 * Forward-pass latency of a built `gpt2` (124M parameters) per batch x seq_len: warm-up, then
 * timed runs until the median's 95% CI is within 1% or the budget is spent. Reports p50/p90/p99,
 * tokens/s, session creation apart and the samples' count (raw samples stay in the result files;
 * here only their summary is printed).
 *
 * Environment: PRUNEBENCH_PROVIDER (cpu|cuda), PRUNEBENCH_LAT_BATCH ("1,8"), PRUNEBENCH_LAT_SEQ
 * ("128,512"), PRUNEBENCH_LAT_BUDGET_S (10), PRUNEBENCH_THREADS, PRUNEBENCH_LAT_PRESET (gpt2|tiny),
 * PRUNEBENCH_MODEL_FILE (a model already built, e.g. by bench/gpu.sh, instead of building one).
 */
export async function run(): Promise<Record<string, unknown>> {
  const env = process.env;
  const provider = (env.PRUNEBENCH_PROVIDER ?? "cpu") as Provider;
  const batches = (env.PRUNEBENCH_LAT_BATCH ?? "1,8").split(",").map(Number);
  const seqs = (env.PRUNEBENCH_LAT_SEQ ?? "128,512").split(",").map(Number);
  const budgetMs = Number(env.PRUNEBENCH_LAT_BUDGET_S ?? 10) * 1000;
  const threads = env.PRUNEBENCH_THREADS ? Number(env.PRUNEBENCH_THREADS) : undefined;
  const preset = env.PRUNEBENCH_LAT_PRESET === "tiny" ? "tiny" : "gpt2";
  const dir = mkdtempSync(path.join(os.tmpdir(), "prunebench-bench-latency-"));
  try {
    const file = env.PRUNEBENCH_MODEL_FILE ?? path.join(dir, "model.onnx");
    if (!env.PRUNEBENCH_MODEL_FILE) writeBuiltModel({ family: "decoder", preset, seed: 0, file, externalData: "always" });
    const created = await createSession(readModel(file), { provider, threads });
    const shapes = [];
    try {
      for (const batch of batches) {
        for (const seqLen of seqs) {
          const l = await measureLatency({ session: created.session, family: "decoder", provider: created.provider, batch, seqLen, threads, budgetMs, sessionMs: created.createMs });
          shapes.push({ batch, seqLen, runs: l.samplesMs.length, p50Ms: round(l.p50), p90Ms: round(l.p90), p99Ms: round(l.p99), stdMs: round(l.std), tokensPerSecond: round(l.tokensPerSecond) });
        }
      }
    } finally {
      await created.session.release();
    }
    return {
      model: `built ${preset} decoder`,
      provider: created.provider,
      warning: created.warning ?? null,
      runner: runnerFingerprint({ provider: created.provider }),
      sessionCreateSeconds: round(created.createMs / 1000),
      shapes,
      peakRssBytes: peakRssBytes(),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

benchMain(import.meta.url, run);
