import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeBuiltModel } from "../src/models/index.ts";
import { readModel } from "../src/onnx/index.ts";
import { evaluatePerplexity } from "../src/eval/evaluate.ts";
import { runnerFingerprint } from "../src/eval/runner.ts";
import type { Provider } from "../src/eval/session.ts";
import { loadTokenizer } from "../src/eval/tokenizer.ts";
import { SHARED_TOKENIZERS, TORCH_EXPORT, WIKITEXT_RAW } from "../test/helpers/shared-data.ts";
import { benchMain, peakRssBytes } from "./lib.ts";

/**
 * Perplexity over the WikiText-2 test split ("\n\n".join(rows), 287k GPT-2 tokens) with a built
 * `gpt2` model (124M parameters, random weights) through the in-graph loss: tokens/s, and the
 * share of wall time spent outside session.run (tokenizing is cached and reported apart).
 * Goal: overhead under 5%.
 *
 * Environment: PRUNEBENCH_PROVIDER (cpu|cuda), PRUNEBENCH_PPL_SEQ_LEN (1024), PRUNEBENCH_PPL_STRIDE
 * (seq_len), PRUNEBENCH_PPL_BATCH (1), PRUNEBENCH_PPL_MAX_SECONDS (stop early, result partial),
 * PRUNEBENCH_PPL_MODEL=torch-export (the small shared export instead of the built gpt2),
 * PRUNEBENCH_MODEL_FILE (a model already built, e.g. by bench/gpu.sh, instead of building one),
 * PRUNEBENCH_DATA (a folder laid out as ../shared/data; default ../shared/data), PRUNEBENCH_THREADS.
 */
export async function run(): Promise<Record<string, unknown>> {
  const env = process.env;
  const provider = (env.PRUNEBENCH_PROVIDER ?? "cpu") as Provider;
  const seqLen = Number(env.PRUNEBENCH_PPL_SEQ_LEN ?? 1024);
  const stride = Number(env.PRUNEBENCH_PPL_STRIDE ?? seqLen);
  const batchSize = Number(env.PRUNEBENCH_PPL_BATCH ?? 1);
  const maxSeconds = env.PRUNEBENCH_PPL_MAX_SECONDS ? Number(env.PRUNEBENCH_PPL_MAX_SECONDS) : Infinity;
  const threads = env.PRUNEBENCH_THREADS ? Number(env.PRUNEBENCH_THREADS) : undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), "prunebench-bench-ppl-"));
  try {
    let modelName = "built gpt2 (124M, random weights)";
    let file = path.join(dir, "model.onnx");
    const t0 = performance.now();
    if (env.PRUNEBENCH_PPL_MODEL === "torch-export") {
      file = TORCH_EXPORT.gpt2;
      modelName = "torch-export gpt2 (3.3M)";
    } else if (env.PRUNEBENCH_MODEL_FILE) {
      file = env.PRUNEBENCH_MODEL_FILE;
      modelName = `${env.PRUNEBENCH_MODEL_NAME ?? "built gpt2 (124M, random weights)"} from ${file}`;
    } else writeBuiltModel({ family: "decoder", preset: "gpt2", seed: 0, file, externalData: "always" });
    const buildSeconds = (performance.now() - t0) / 1000;
    const data = env.PRUNEBENCH_DATA;
    const text = readFileSync(path.join(data ? path.join(data, "wikitext-2-raw") : WIKITEXT_RAW, "wiki.test.raw"), "utf8");
    const tokenizer = loadTokenizer(path.join(data ? path.join(data, "tokenizers") : SHARED_TOKENIZERS, "gpt2"));
    const started = performance.now();
    const result = await evaluatePerplexity(readModel(file), tokenizer, text, "wikitext-2-raw/test", {
      family: "decoder",
      seqLen,
      stride,
      batchSize,
      provider,
      threads,
      cacheDir: dir,
      shouldStop: () => (performance.now() - started) / 1000 > maxSeconds,
    });
    const p = result.perplexity;
    const overhead = 1 - result.runMs / result.wallMs;
    return {
      model: modelName,
      provider: result.provider,
      runner: runnerFingerprint({ provider: result.provider }),
      seqLen,
      stride,
      batchSize,
      threads: threads ?? null,
      tokensScored: p.tokens,
      partial: p.partial,
      tokenPerplexity: round(p.token),
      bitsPerByte: round(p.bitsPerByte),
      tokensPerSecond: round(p.tokens / (result.wallMs / 1000)),
      wallSeconds: round(result.wallMs / 1000),
      sessionRunSeconds: round(result.runMs / 1000),
      outsideRunShare: round(overhead),
      sessionCreateSeconds: round(result.sessionMs / 1000),
      tokenizeSeconds: round(result.tokenizeMs / 1000),
      buildSeconds: round(buildSeconds),
      peakRssBytes: peakRssBytes(),
      warnings: result.warnings,
      goal: "outsideRunShare < 0.05",
      met: overhead < 0.05,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

benchMain(import.meta.url, run);
