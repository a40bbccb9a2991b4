import { spawnSync } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { buildModel } from "../src/models/index.ts";
import type { Family } from "../src/models/types.ts";
import { finetune } from "../src/train/train.ts";
import { Rng } from "../src/train/rng.ts";
import { PRESETS } from "../src/models/build/config.ts";
import { benchMain, loadAverage, peakRssBytes, runPythonJson, torchPython } from "./lib.ts";

/**
 * Training throughput: a built gpt2 (124M parameters) at batch 4 x 128, and the tiny built
 * models of each family. Each case runs in its own process so its peak RSS is its own.
 * Token values do not change the work, so the stream is seeded random ids.
 *
 * Environment: TRAIN_BENCH_CASES (names, comma-separated), PRUNEBENCH_PROVIDER (cpu|cuda; the
 * cuda provider falls back to cpu with a warning where unavailable), PRUNEBENCH_TRAIN_STEPS
 * (each case's default otherwise).
 *
 * The gpt2 case is compared in the same run with bench/finetune_torch.py (torch modules of the
 * same shapes, AdamW, clipping, 2 threads, on CPU): `ratio` is prunebench's steady tokens/s
 * over torch's.
 */
const self = fileURLToPath(import.meta.url);
const TORCH_SCRIPT = fileURLToPath(new URL("./finetune_torch.py", import.meta.url));

interface Case {
  name: string;
  family: Family;
  preset: "gpt2" | "tiny";
  batch: number;
  seqLen: number;
  steps: number;
  /** Also run the torch reference on the same shapes. */
  torch?: boolean;
}

const CASES: Case[] = [
  { name: "gpt2", family: "decoder", preset: "gpt2", batch: 4, seqLen: 128, steps: 4, torch: true },
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
    session: { provider },
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
    loadAverage: loadAverage(),
    cores: os.cpus().length,
    totalSeconds: Number(r.seconds.toFixed(2)),
    // Wall seconds of the loop in the training graph, the optimizer graph and validation.
    profile: Object.fromEntries(Object.entries(r.profile).map(([k, v]) => [k, Number(v.toFixed(2))])),
    peakRssBytes: peakRssBytes(),
  };
}

/** The torch reference on the case's shapes, right after prunebench's run, and the ratio. */
function againstTorch(c: Case, ours: Record<string, unknown>): Record<string, unknown> {
  const python = torchPython();
  if (!("python" in python)) return { torch: python.skipped };
  const s = PRESETS[c.preset](c.family);
  const loadBefore = loadAverage();
  const ref = runPythonJson(python.python, TORCH_SCRIPT, { ...s, batch: c.batch, seqLen: c.seqLen, steps: ours.steps, threads: 2 });
  const cpu = (x: unknown) => (x as number[]).slice(1).reduce((a, b) => a + b, 0) / Math.max(1, (x as number[]).length - 1);
  return {
    torch: { ...ref, loadAverageBefore: loadBefore, loadAverageAfter: loadAverage() },
    ratio: Number(((ours.steadyTokensPerSecond as number) / (ref.tokensPerSecond as number)).toFixed(3)),
    // CPU seconds per steady step, torch over prunebench: less sensitive to other jobs' load.
    cpuRatio: Number((cpu(ref.stepCpuSeconds) / cpu(ours.stepCpuSeconds)).toFixed(3)),
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
    const ours = { ...(JSON.parse(child.stdout.trim().split("\n").pop()!) as Record<string, unknown>), warnings };
    // The torch reference runs on CPU: a ratio against it means something for a CPU run only.
    out[c.name] = c.torch && process.env.PRUNEBENCH_PROVIDER !== "cuda" ? { ...ours, ...againstTorch(c, ours) } : ours;
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
