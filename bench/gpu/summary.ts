/**
 * bench/results/gpu.json from the pieces bench/gpu.sh leaves in its run folder: cuda beside
 * cpu on the same machine for perplexity, latency, fine-tuning and the host-device copies,
 * the nodes placed on the CPU and the static op check. A step that failed is listed with the
 * last line of its log; the rest is still written.
 *
 *   node --import tsx bench/gpu/summary.ts <run-dir> <gpu.json> [--dry]
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeJsonAtomic } from "../../src/util/atomic.ts";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const STEPS = ["perplexity-cuda", "perplexity-cpu", "latency-cuda", "latency-cpu", "train-cuda", "train-cpu", "transfer-cuda", "transfer-cpu", "placement", "ops"] as const;

function ratio(a: number | undefined, b: number | undefined): number | null {
  return a !== undefined && b !== undefined && b > 0 && Number.isFinite(a / b) ? Math.round((a / b) * 100) / 100 : null;
}

export function summarize(dir: string, dry = false): Json {
  const pieces: Record<string, Json | undefined> = {};
  const failures: Array<{ step: string; error: string }> = [];
  for (const step of STEPS) {
    const file = path.join(dir, `${step}.json`);
    const text = existsSync(file) ? readFileSync(file, "utf8").trim() : "";
    try {
      pieces[step] = parseOutput(text);
    } catch {
      const logFile = path.join(dir, `${step}.log`);
      const log = existsSync(logFile) ? readFileSync(logFile, "utf8").trim().split("\n") : [];
      // The error's message, not the stack frames under it.
      const lines = log.map((l) => l.trim()).filter((l) => l && !l.startsWith("at ") && l !== "[m");
      failures.push({ step, error: lines.findLast((l) => /error/i.test(l)) ?? lines.at(-1) ?? "no output" });
    }
  }
  const p = pieces;
  const warnings = [
    ...new Set(
      [p["perplexity-cuda"]?.warnings ?? [], p["latency-cuda"]?.warning ? [p["latency-cuda"]!.warning] : [], (Object.values(p["train-cuda"]?.cases ?? {}) as Json[]).flatMap((c) => c.warnings ?? [])].flat() as string[],
    ),
  ];
  const cudaRan = p["perplexity-cuda"]?.provider === "cuda" || p["latency-cuda"]?.provider === "cuda";
  const latency = ((p["latency-cuda"]?.shapes ?? []) as Json[]).map((g) => {
    const c = ((p["latency-cpu"]?.shapes ?? []) as Json[]).find((x) => x.batch === g.batch && x.seqLen === g.seqLen);
    return { batch: g.batch, seqLen: g.seqLen, cudaP50Ms: g.p50Ms, cpuP50Ms: c?.p50Ms ?? null, cudaRuns: g.runs, cpuRuns: c?.runs ?? null, speedup: ratio(c?.p50Ms, g.p50Ms) };
  });
  const trainCase = (piece: Json | undefined) => Object.values(piece?.cases ?? {})[0] as Json | undefined;
  const tc = trainCase(p["train-cuda"]);
  const tp = trainCase(p["train-cpu"]);
  const medianStep = (c: Json | undefined) => {
    const s = ((c?.stepSeconds ?? []) as number[]).slice(1).sort((a, b) => a - b);
    return s.length ? s[Math.floor(s.length / 2)] : undefined;
  };
  const xc = p["transfer-cuda"];
  const xp = p["transfer-cpu"];
  return {
    dryRun: dry,
    date: new Date().toISOString(),
    cudaRan,
    nvidiaSmi: existsSync(path.join(dir, "nvidia-smi.txt")) ? readFileSync(path.join(dir, "nvidia-smi.txt"), "utf8").trim() : null,
    runner: { cuda: p["perplexity-cuda"]?.runner ?? p["latency-cuda"]?.runner ?? null, cpu: p["perplexity-cpu"]?.runner ?? p["latency-cpu"]?.runner ?? null },
    onnxruntime: existsSync(path.join(dir, "ort.json")) ? (JSON.parse(readFileSync(path.join(dir, "ort.json"), "utf8") || "null") as Json) : null,
    perplexity: {
      model: p["perplexity-cuda"]?.model ?? null,
      cuda: pick(p["perplexity-cuda"], ["provider", "tokensScored", "partial", "tokenPerplexity", "tokensPerSecond", "wallSeconds", "sessionCreateSeconds", "outsideRunShare"]),
      cpu: pick(p["perplexity-cpu"], ["provider", "tokensScored", "partial", "tokenPerplexity", "tokensPerSecond", "wallSeconds", "sessionCreateSeconds", "outsideRunShare"]),
      speedup: ratio(p["perplexity-cuda"]?.tokensPerSecond, p["perplexity-cpu"]?.tokensPerSecond),
    },
    latency,
    finetune: {
      cuda: tc ? { provider: tc.provider, batch: tc.batch, seqLen: tc.seqLen, steps: tc.steps, medianStepSeconds: medianStep(tc), steadyTokensPerSecond: tc.steadyTokensPerSecond, peakRssBytes: tc.peakRssBytes } : null,
      cpu: tp ? { provider: tp.provider, batch: tp.batch, seqLen: tp.seqLen, steps: tp.steps, medianStepSeconds: medianStep(tp), steadyTokensPerSecond: tp.steadyTokensPerSecond, peakRssBytes: tp.peakRssBytes } : null,
      speedup: ratio(medianStep(tp), medianStep(tc)),
    },
    transfer: {
      cuda: xc ? { trainStep: xc.trainStep, evalWindow: xc.evalWindow, optimizerStep: xc.optimizerStep, reference: xc.reference } : null,
      cpu: xp ? { trainStep: xp.trainStep, evalWindow: xp.evalWindow, optimizerStep: xp.optimizerStep, reference: xp.reference } : null,
      // What the bus adds to a step: the pass-through run on cuda less the same run on cpu.
      hostDeviceMsPerStep: xc && xp ? Math.round((xc.trainStep.runMs - xp.trainStep.runMs) * 1000) / 1000 : null,
      hostDeviceMsPerWindow: xc && xp ? Math.round((xc.evalWindow.runMs - xp.evalWindow.runMs) * 1000) / 1000 : null,
      // The step's two runs without their compute (pass-through training run, AdamW graph) over a real cuda step.
      shareOfCudaStep: xc && tc && medianStep(tc) ? Math.round(((xc.trainStep.runMs + (xc.optimizerStep?.runMs ?? 0)) / 1000 / medianStep(tc)!) * 1000) / 1000 : null,
    },
    placement: p.placement ? { cuda: p.placement.cuda, cpuNodesByOp: p.placement.cpuNodesByOp, graphsWithCpuNodes: (p.placement.graphs as Json[]).filter((g) => g.onCpu.length || g.error).map((g) => ({ graph: g.graph, nodes: g.nodes, onCpu: g.onCpu, error: g.error })) } : null,
    opsWithoutCudaKernel: p.ops ? p.ops.fallbacks : null,
    warnings,
    failures,
  };
}

/** A step's stdout: one JSON document (pretty or on one line), or lines ending in one. */
function parseOutput(text: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch {
    return JSON.parse(text.split("\n").at(-1) ?? "") as Json;
  }
}

function pick(o: Json | undefined, keys: string[]): Json | null {
  return o ? Object.fromEntries(keys.map((k) => [k, o[k] ?? null])) : null;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const [dir, file] = process.argv.slice(2).filter((a) => a !== "--dry");
  if (!dir || !file) {
    console.error("usage: summary.ts <run-dir> <gpu.json> [--dry]");
    process.exit(2);
  }
  const summary = summarize(dir, process.argv.includes("--dry"));
  writeJsonAtomic(file, summary);
  console.log(JSON.stringify({ file, cudaRan: summary.cudaRan, perplexitySpeedup: summary.perplexity.speedup, finetuneSpeedup: summary.finetune.speedup, failures: summary.failures }));
}
