import { spawnSync } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { buildModel } from "../src/models/index.ts";
import type { Family } from "../src/models/types.ts";
import { finetune } from "../src/train/train.ts";
import { Rng } from "../src/train/rng.ts";
import { benchMain, peakRssBytes } from "./lib.ts";

/**
 * Training throughput: a built gpt2 (124M parameters) at batch 4 x 128, and the tiny built
 * models of each family. Each case runs in its own process so its peak RSS is its own.
 * Token values do not change the work, so the stream is seeded random ids.
 *
 * Environment: TRAIN_BENCH_CASES (names, comma-separated), PRUNEBENCH_PROVIDER (cpu|cuda; the
 * cuda provider falls back to cpu with a warning where unavailable), PRUNEBENCH_TRAIN_STEPS
 * (each case's default otherwise).
 */
const self = fileURLToPath(import.meta.url);

interface Case {
  name: string;
  family: Family;
  preset: "gpt2" | "tiny";
  batch: number;
  seqLen: number;
  steps: number;
}

const CASES: Case[] = [
  { name: "gpt2", family: "decoder", preset: "gpt2", batch: 4, seqLen: 128, steps: 3 },
  { name: "tiny-decoder", family: "decoder", preset: "tiny", batch: 8, seqLen: 128, steps: 10 },
  { name: "tiny-encoder", family: "encoder", preset: "tiny", batch: 8, seqLen: 128, steps: 10 },
  { name: "tiny-encoder-decoder", family: "encoder-decoder", preset: "tiny", batch: 8, seqLen: 128, steps: 10 },
];

async function measure(c: Case): Promise<Record<string, unknown>> {
  const model = buildModel({ family: c.family, preset: c.preset, seed: 0 });
  const provider = process.env.PRUNEBENCH_PROVIDER === "cuda" ? "cuda" : "cpu";
  const steps = process.env.PRUNEBENCH_TRAIN_STEPS ? Number(process.env.PRUNEBENCH_TRAIN_STEPS) : c.steps;
  const vocab = c.family === "encoder" ? 30522 : 50257;
  const rng = new Rng(1);
  const tokens = Int32Array.from({ length: 200_000 }, () => rng.int(vocab));
  const stepSeconds: number[] = [];
  const stepCpuSeconds: number[] = [];
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  const r = await finetune({
    model,
    family: c.family,
    tokens,
    steps,
    lr: 1e-4,
    session: { executionProviders: [provider] },
    batch: c.batch,
    seqLen: c.seqLen,
    evalEvery: 1_000_000,
    evalBatches: 1,
    onProgress: (e) => {
      if (e.kind !== "step") return;
      const now = performance.now();
      const cpu = process.cpuUsage(lastCpu);
      stepSeconds.push((now - last) / 1000);
      stepCpuSeconds.push((cpu.user + cpu.system) / 1e6);
      last = now;
      lastCpu = process.cpuUsage();
    },
  });
  const loopSeconds = stepSeconds.slice(1).reduce((a, b) => a + b, 0);
  const steady = loopSeconds > 0 ? ((stepSeconds.length - 1) * c.batch * c.seqLen) / loopSeconds : r.tokensPerSecond;
  return {
    family: c.family,
    preset: c.preset,
    provider,
    batch: c.batch,
    seqLen: c.seqLen,
    steps: r.steps,
    params: r.trainable.length,
    tokensPerSecond: Math.round(r.tokensPerSecond),
    steadyTokensPerSecond: Math.round(steady),
    stepSeconds: stepSeconds.map((s) => Number(s.toFixed(3))),
    // CPU seconds (all threads) per step: comparable when other work shares the machine.
    stepCpuSeconds: stepCpuSeconds.map((s) => Number(s.toFixed(3))),
    loadAverage: os.loadavg()[0],
    cores: os.cpus().length,
    totalSeconds: Number(r.seconds.toFixed(2)),
    peakRssBytes: peakRssBytes(),
  };
}

export async function run(): Promise<Record<string, unknown>> {
  const only = process.env.TRAIN_BENCH_CASES?.split(",");
  const out: Record<string, unknown> = {};
  for (const c of CASES) {
    if (only && !only.includes(c.name)) continue;
    const child = spawnSync(process.execPath, ["--import", "tsx", self, "--case", c.name], { encoding: "utf8", maxBuffer: 1 << 24 });
    if (child.status !== 0) {
      out[c.name] = { error: child.stderr.trim().split("\n").slice(-3).join(" ") };
      continue;
    }
    // The cuda provider's fallback to cpu is said on stderr ("warning: cuda provider ...").
    const warnings = child.stderr.split("\n").filter((l) => l.startsWith("warning: ")).map((l) => l.slice("warning: ".length));
    out[c.name] = { ...JSON.parse(child.stdout.trim().split("\n").pop()!), warnings };
  }
  return { provider: process.env.PRUNEBENCH_PROVIDER === "cuda" ? "cuda" : "cpu", cases: out };
}

const at = process.argv.indexOf("--case");
if (at > 0) {
  const c = CASES.find((x) => x.name === process.argv[at + 1]);
  if (!c) throw new Error(`unknown case ${process.argv[at + 1]}`);
  measure(c).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
} else {
  benchMain(import.meta.url, run);
}
