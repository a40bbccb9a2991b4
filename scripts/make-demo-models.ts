/**
 * Regenerates the bundled demo models: a tiny decoder (GPT-2 style), encoder (BERT masked LM)
 * and encoder-decoder (Pegasus style), built by prunebench's builders with the byte-level demo
 * tokenizer's 260 ids and trained from scratch on the bundled corpus (Moby-Dick, train split)
 * by prunebench's own trainer. Deterministic for a seed on CPU.
 *
 *   node --import tsx scripts/make-demo-models.ts [--steps 600] [--only decoder]
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { bundledCorpus } from "../src/data/bundled.ts";
import { loadTokenizer } from "../src/eval/tokenizer.ts";
import { tokenizeCached } from "../src/eval/token-cache.ts";
import { buildModel } from "../src/models/index.ts";
import type { Family } from "../src/models/types.ts";
import { writeModel } from "../src/onnx/write.ts";
import { trainModel } from "../src/train/train.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FAMILIES: Family[] = ["decoder", "encoder", "encoder-decoder"];

/** Sizes chosen so each model trains in minutes on 2 cores and commits at well under 1 MB. */
const SIZES = { layers: 2, dModel: 64, heads: 4, dFF: 256, vocab: 260, positions: 256 };

export interface DemoTrainOptions {
  family: Family;
  steps: number;
  seed?: number;
  out: string;
  log?: (line: string) => void;
}

export async function makeDemoModel(o: DemoTrainOptions): Promise<{ initial: number; final: number; seconds: number }> {
  const tokenizer = loadTokenizer(path.join(root, "demo/tokenizer.json"));
  const corpus = bundledCorpus();
  const train = tokenizeCached(tokenizer, corpus.split("train"), { cacheDir: null });
  const valid = tokenizeCached(tokenizer, corpus.split("valid"), { cacheDir: null });
  const model = buildModel({ family: o.family, preset: "tiny", sizes: SIZES, seed: o.seed ?? 0 });
  const result = await trainModel({
    model,
    family: o.family,
    tokens: train,
    validTokens: valid,
    steps: o.steps,
    lr: 3e-3,
    warmup: Math.ceil(o.steps / 20),
    schedule: "cosine",
    batch: 16,
    seqLen: 64,
    weightDecay: 0.01,
    clipNorm: 1,
    seed: o.seed ?? 0,
    evalEvery: Math.max(50, Math.floor(o.steps / 4)),
    evalBatches: 4,
    maskToken: tokenizer.specials.mask,
    decoderStart: tokenizer.specials.pad,
    onProgress: (e) => {
      if (e.kind === "validation") o.log?.(`${o.family}: step ${e.step} validation loss ${e.loss.toFixed(3)} (ppl ${e.perplexity.toFixed(2)})`);
    },
  });
  writeModel(result.model, o.out, { externalData: "never" });
  return { initial: result.initial.perplexity, final: result.final.perplexity, seconds: result.seconds };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { steps: { type: "string", default: "600" }, only: { type: "string" } } });
  for (const family of FAMILIES.filter((f) => !values.only || f === values.only)) {
    const out = path.join(root, "demo/models", `${family}.onnx`);
    const r = await makeDemoModel({ family, steps: Number(values.steps), out, log: console.log });
    console.log(`${family}: validation perplexity ${r.initial.toFixed(1)} -> ${r.final.toFixed(2)} in ${r.seconds.toFixed(0)} s; wrote ${path.relative(root, out)}`);
  }
}
