/**
 * Regenerates the bundled demo models: a tiny decoder (GPT-2 style), encoder (BERT masked LM)
 * and encoder-decoder (Pegasus style), built by prunebench's builders with the byte-level demo
 * tokenizer's 260 ids and trained from scratch on the bundled corpus (Moby-Dick, train split)
 * by prunebench's own trainer. Deterministic for a seed on CPU.
 *
 *   node --import tsx scripts/make-demo-models.ts [--steps 600] [--only decoder]
 *
 * The committed models: decoder and encoder-decoder with --steps 800, the encoder with
 * --only encoder --steps 12000 (about 8 minutes on 2 cores; validation loss 1.32 nats).
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

/**
 * Windows of the first training phase of the masked LM (see makeDemoModel), and the share of the
 * steps spent there. Each step reads the same number of tokens in both phases.
 */
const ENCODER_SHORT_SEQ = 16;
const ENCODER_SHORT_SHARE = 1 / 3;
const SEQ = 64;
const BATCH = 16;

/**
 * Trains one demo model. The decoder and encoder-decoder train at 64-token windows throughout.
 * The masked LM first trains at 16-token windows, then at 64. Trained at 64 from the start it
 * stays on the unigram plateau (validation loss 2.75 to 2.78 nats, the unigram cross-entropy at
 * the masked positions, after 800 to 5,000 steps, for learning rates 5e-4 to 1e-2, warm-up 5 to
 * 20%, batch 16 or 64, 15% or 40% masking; at 32 tokens too), while at 8 or 16 tokens it leaves
 * the plateau within a few hundred steps. A [MASK] carries no information of its own: everything
 * must come through attention, which at initialization is spread evenly over the window, so a
 * neighbour's share, and with it the gradient that would teach attention to look at neighbours,
 * shrinks with the window. Short windows first is BERT's own recipe (most steps at 128 tokens,
 * then 512) at demo scale; the second phase learns the position embeddings past 16.
 */
export async function makeDemoModel(o: DemoTrainOptions): Promise<{ initial: number; final: number; seconds: number }> {
  const tokenizer = loadTokenizer(path.join(root, "demo/tokenizer.json"));
  const corpus = bundledCorpus();
  const train = tokenizeCached(tokenizer, corpus.split("train"), { cacheDir: null });
  const valid = tokenizeCached(tokenizer, corpus.split("valid"), { cacheDir: null });
  let model = buildModel({ family: o.family, preset: "tiny", sizes: SIZES, seed: o.seed ?? 0 });
  const phases =
    o.family === "encoder"
      ? [
          { steps: Math.round(o.steps * ENCODER_SHORT_SHARE), seqLen: ENCODER_SHORT_SEQ, batch: (BATCH * SEQ) / ENCODER_SHORT_SEQ },
          { steps: o.steps - Math.round(o.steps * ENCODER_SHORT_SHARE), seqLen: SEQ, batch: BATCH },
        ].filter((p) => p.steps > 0)
      : [{ steps: o.steps, seqLen: SEQ, batch: BATCH }];
  let initial: number | undefined;
  let final = NaN;
  let seconds = 0;
  for (const phase of phases) {
    const result = await trainModel({
      model,
      family: o.family,
      tokens: train,
      validTokens: valid,
      steps: phase.steps,
      lr: 3e-3,
      warmup: Math.ceil(phase.steps / 20),
      schedule: "cosine",
      batch: phase.batch,
      seqLen: phase.seqLen,
      weightDecay: 0.01,
      clipNorm: 1,
      seed: o.seed ?? 0,
      evalEvery: Math.max(50, Math.floor(phase.steps / 4)),
      evalBatches: 4,
      maskToken: tokenizer.specials.mask,
      decoderStart: tokenizer.specials.pad,
      onProgress: (e) => {
        if (e.kind === "validation") o.log?.(`${o.family} (${phase.seqLen} tokens): step ${e.step} validation loss ${e.loss.toFixed(3)} (ppl ${e.perplexity.toFixed(2)})`);
      },
    });
    model = result.model;
    initial ??= result.initial.perplexity;
    final = result.final.perplexity;
    seconds += result.seconds;
  }
  writeModel(model, o.out, { externalData: "never" });
  return { initial: initial ?? NaN, final, seconds };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { steps: { type: "string", default: "600" }, only: { type: "string" } } });
  for (const family of FAMILIES.filter((f) => !values.only || f === values.only)) {
    const out = path.join(root, "demo/models", `${family}.onnx`);
    const r = await makeDemoModel({ family, steps: Number(values.steps), out, log: console.log });
    console.log(`${family}: validation perplexity ${r.initial.toFixed(1)} -> ${r.final.toFixed(2)} in ${r.seconds.toFixed(0)} s; wrote ${path.relative(root, out)}`);
  }
}
