import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bundledCorpus } from "../src/data/bundled.ts";
import { evaluatePerplexity } from "../src/eval/evaluate.ts";
import { tokenizeCached } from "../src/eval/token-cache.ts";
import { loadTokenizer } from "../src/eval/tokenizer.ts";
import { buildModel, mapModel } from "../src/models/index.ts";
import { readModel } from "../src/onnx/index.ts";
import { pruneModel } from "../src/prune/index.ts";
import type { CalibrationData } from "../src/prune/calibrated/index.ts";
import { gemm } from "../src/prune/calibrated/gemm.ts";
import { sparseGptPrune } from "../src/prune/calibrated/sparsegpt-solve.ts";
import { normalDraws, seededRandom } from "../src/util/random.ts";
import { makeDemoModel } from "../scripts/make-demo-models.ts";
import { benchMain, loadAverage, peakRssBytes, runPythonJson, timed, torchPython } from "./lib.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * The published ordering at 50% (SparseGPT <= Wanda < magnitude; SparseGPT paper Table 1, Wanda
 * paper Table 3) checked on the demo decoder: the tiny GPT-2 that scripts/make-demo-models.ts
 * trains with prunebench's trainer on the bundled Moby-Dick train split (trained here into a
 * temporary folder when demo/models/decoder.onnx is absent). Calibration: 128 windows of 64
 * tokens of the train split, seed 0; perplexity: sliding windows of 64 (stride 32) over the
 * first 20,000 characters of the test split. Unstructured 50%, OWL over Wanda at 50%, and 2:4.
 * Measured: dense 8.18; at 50% magnitude 8.87, Wanda 8.85, SparseGPT 8.47 (OWL over Wanda
 * 9.55: two layers give OWL nothing to allocate between but noise); 2:4 magnitude 9.77,
 * Wanda 9.76, SparseGPT 8.54. The ordering holds; Wanda's margin over magnitude is small on a
 * model this small, which has none of the outlier features Wanda's score exploits.
 */
async function ordering(): Promise<Record<string, unknown>> {
  const tokenizer = loadTokenizer(path.join(root, "demo/tokenizer.json"));
  const corpus = bundledCorpus();
  let file = path.join(root, "demo/models/decoder.onnx");
  let tmp: string | null = null;
  if (!existsSync(file)) {
    tmp = mkdtempSync(path.join(os.tmpdir(), "prunebench-ordering-"));
    file = path.join(tmp, "decoder.onnx");
    await makeDemoModel({ family: "decoder", steps: 600, out: file });
  }
  try {
    const tokens = tokenizeCached(tokenizer, corpus.split("train"), { cacheDir: null });
    const text = corpus.split("test").slice(0, 20_000);
    const calibration: CalibrationData = { tokens, samples: 128, seqLen: 64, seed: 0, family: "decoder" };
    const ppl = async (method: string | null, options: Record<string, unknown> = {}, sparsity?: number) => {
      const model = readModel(file);
      if (method) await pruneModel(model, mapModel(model), { method, options, sparsity, calibration });
      const r = await evaluatePerplexity(model, tokenizer, text, "bundled/test", { family: "decoder", seqLen: 64, stride: 32, cacheDir: null });
      return r.perplexity.token;
    };
    const out: Record<string, number> = { dense: await ppl(null) };
    for (const [label, method, options, sparsity] of [
      ["magnitude50", "magnitude", {}, 0.5],
      ["wanda50", "wanda", {}, 0.5],
      ["sparsegpt50", "sparsegpt", {}, 0.5],
      ["owlWanda50", "owl", {}, 0.5],
      ["magnitude2of4", "nm", { pattern: "2:4" }, undefined],
      ["wanda2of4", "wanda", { nm: "2:4" }, undefined],
      ["sparsegpt2of4", "sparsegpt", { nm: "2:4" }, undefined],
    ] as const) {
      out[label] = await ppl(method, options, sparsity);
      process.stderr.write(`ordering: ${label} ${out[label].toFixed(3)}\n`);
    }
    return {
      model: tmp ? "demo decoder trained here (600 steps)" : "demo/models/decoder.onnx",
      perplexity: out,
      orderingHolds50: out.sparsegpt50 <= out.wanda50 && out.wanda50 < out.magnitude50,
      orderingHolds2of4: out.sparsegpt2of4 <= out.wanda2of4 && out.wanda2of4 < out.magnitude2of4,
    };
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Calibration + sequential SparseGPT at 50% on a built GPT-2 (124M, 12 layers): every layer is
 * recalibrated on the model as pruned so far, then its four matrices are solved (Cholesky of
 * H^-1 up to 3072x3072 in float64, blocks of 128). The calibration set is REDUCED from the
 * papers' 128 x 2048 tokens to SAMPLES windows of SEQ tokens of pseudo-random ids (the timing of
 * the solve does not depend on the text; the forward passes scale with samples x seq x layers).
 * Measured (shared 2-core machine): 12 layers 942 s wall, 862 CPU s, peak RSS 3.55 GB; 2 layers
 * 181 s, 131 CPU s, 2.17 GB. About 70 CPU s per layer, mostly the float64 Cholesky and sweep of
 * the 3072-input MLP projection.
 */
const SAMPLES = Number(process.env.PRUNEBENCH_SPARSEGPT_SAMPLES ?? 16);
/** GPT-2's 12 layers by default; PRUNEBENCH_SPARSEGPT_LAYERS=2 keeps its widths with fewer layers. */
const LAYERS = Number(process.env.PRUNEBENCH_SPARSEGPT_LAYERS ?? 12);
const SEQ = 128;

async function gpt2(): Promise<Record<string, unknown>> {
  const model = buildModel({ family: "decoder", preset: "gpt2", sizes: { layers: LAYERS }, seed: 0 });
  const map = mapModel(model);
  let state = 12345;
  const tokens = Int32Array.from({ length: 100_000 }, () => ((state = (state * 1103515245 + 12345) >>> 0), state % 50257));
  const calibration: CalibrationData = { tokens, samples: SAMPLES, seqLen: SEQ, seed: 0, family: "decoder" };
  const cpu = process.cpuUsage();
  const { value, seconds } = await timed(() => pruneModel(model, map, { method: "sparsegpt", sparsity: 0.5, calibration, log: (l) => process.stderr.write(`${l}\n`) }));
  const used = process.cpuUsage(cpu);
  return {
    model: `built gpt2 (d 768, dFF 3072, ${LAYERS} layers)`,
    calibration: `${SAMPLES} x ${SEQ} tokens (reduced from 128 x seq_len)`,
    seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
    selectSeconds: value.result.seconds.select,
    secondsPerLayer: value.result.seconds.select / LAYERS,
    matrices: value.result.matrices.length,
    params: value.result.params,
    achievedSparsity: value.result.achievedSparsity,
    peakRssBytes: peakRssBytes(),
  };
}

/** [inputs, outputs] of the four matrices of one GPT-2 layer: qkv, attention output, MLP in, MLP out. */
const GPT2_LAYER_SHAPES: [number, number][] = [
  [768, 2304],
  [768, 768],
  [768, 3072],
  [3072, 768],
];

/** H = (2 / tokens) X^T X of Gaussian activations, as the reference code's add_batch scales it. */
async function randomHessian(inputs: number, tokens: number, seed: number): Promise<Float64Array> {
  const normal = normalDraws(seededRandom(seed));
  const x = Float32Array.from({ length: tokens * inputs }, normal);
  const h = await gemm({ data: x, rows: tokens, cols: inputs }, { data: x, rows: tokens, cols: inputs }, { transA: true, alpha: 2 / tokens });
  return Float64Array.from(h);
}

/**
 * The 48 per-matrix solves of SparseGPT at 50% on GPT-2's shapes (12 layers of the four
 * matrices above; blocks of 128, 1% dampening; Hessians of SOLVE_TOKENS Gaussian tokens, as
 * 4 calibration windows of 128 give), by prunebench's solver and by the torch reference
 * (bench/sparsegpt_reference.py, IST-DASLab's fasterprune, 2 threads), in rounds that
 * alternate the two so both see the same load. Only the solves are timed, on both sides.
 */
const SOLVE_TOKENS = 512;
const SOLVE_LAYERS = Number(process.env.PRUNEBENCH_SPARSEGPT_SOLVE_LAYERS ?? 12);
const SOLVE_ROUNDS = 3;

async function solves(): Promise<Record<string, unknown>> {
  const torch = torchPython();
  const script = path.join(root, "bench/sparsegpt_reference.py");
  const hessians = new Map<number, Float64Array>();
  for (const [inputs] of GPT2_LAYER_SHAPES) if (!hessians.has(inputs)) hessians.set(inputs, await randomHessian(inputs, SOLVE_TOKENS, inputs));
  const normal = normalDraws(seededRandom(1));
  let ours = 0;
  let reference = 0;
  const rounds: Record<string, number>[] = [];
  for (let round = 0; round < SOLVE_ROUNDS; round++) {
    const layers = Math.round(((round + 1) * SOLVE_LAYERS) / SOLVE_ROUNDS) - Math.round((round * SOLVE_LAYERS) / SOLVE_ROUNDS);
    const load = loadAverage();
    let seconds = 0;
    for (let layer = 0; layer < layers; layer++) {
      for (const [inputs, outputs] of GPT2_LAYER_SHAPES) {
        const w = Float32Array.from({ length: inputs * outputs }, () => 0.02 * normal());
        seconds += (await timed(() => sparseGptPrune(w, inputs, outputs, hessians.get(inputs)!, 0.5))).seconds;
      }
    }
    ours += seconds;
    const entry: Record<string, number> = { layers, prunebenchSeconds: seconds, loadAverage: load };
    if ("python" in torch) {
      const ref = runPythonJson(torch.python, script, { shapes: GPT2_LAYER_SHAPES.map(([i, o]) => [i, o, layers]), tokens: SOLVE_TOKENS, threads: 2, blocksize: 128, damp: 0.01, sparsity: 0.5 });
      entry.torchSeconds = Number(ref.seconds);
      entry.loadAverageAfter = loadAverage();
      reference += entry.torchSeconds;
    }
    rounds.push(entry);
    process.stderr.write(`sparsegpt solves: round ${round + 1}/${SOLVE_ROUNDS} ${JSON.stringify(entry)}\n`);
  }
  return {
    shapes: `${SOLVE_LAYERS} x [${GPT2_LAYER_SHAPES.map(([i, o]) => `${i}x${o}`).join(", ")}] (inputs x outputs), ${SOLVE_TOKENS}-token Hessians, 50%, blocks of 128, 1% damp`,
    prunebenchSeconds: ours,
    ...("python" in torch ? { torchSeconds: reference, ratio: ours / reference } : { torch: torch.skipped }),
    rounds,
  };
}

/**
 * PRUNEBENCH_SPARSEGPT_PART=ordering, solves or gpt2 runs one part (the GPT-2 pipeline takes
 * minutes; solves compares the per-matrix solver with torch's).
 */
export async function run(): Promise<Record<string, unknown>> {
  const part = process.env.PRUNEBENCH_SPARSEGPT_PART ?? "all";
  return {
    ...(part === "all" || part === "ordering" ? { ordering: await ordering() } : {}),
    ...(part === "all" || part === "solves" ? { solves: await solves() } : {}),
    ...(part === "all" || part === "gpt2" ? { gpt2: await gpt2() } : {}),
  };
}

benchMain(import.meta.url, run);
