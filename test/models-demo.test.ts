/**
 * The bundled demo encoder (a masked LM trained by scripts/make-demo-models.ts) predicts a
 * [MASK]ed byte from its context. A masked LM that only learned byte frequencies scores the
 * unigram cross-entropy at masked positions and gives every [MASK] the same distribution
 * whatever surrounds it; the encoder once shipped like that and its pruning curve was flat.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { bundledCorpus } from "../src/data/bundled.ts";
import { loadTokenizer } from "../src/eval/tokenizer.ts";
import { seededRandom } from "../src/util/random.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MODEL = path.join(ROOT, "demo/models/encoder.onnx");
const TOKENIZER = path.join(ROOT, "demo/tokenizer.json");
const skip = !existsSync(MODEL) ? `the demo encoder ${MODEL} is not there (scripts/make-demo-models.ts builds it)` : false;
const SEQ = 64;

/** Log-probabilities at every position of one window. */
async function logProbs(session: ort.InferenceSession, ids: number[]): Promise<Float64Array[]> {
  const t = (v: number[]) => new ort.Tensor("int64", BigInt64Array.from(v, BigInt), [1, v.length]);
  const out = await session.run({ input_ids: t(ids), attention_mask: t(ids.map(() => 1)), token_type_ids: t(ids.map(() => 0)) });
  const logits = out.logits!.data as Float32Array;
  const vocab = out.logits!.dims[2]!;
  return ids.map((_, p) => {
    const row = Float64Array.from(logits.subarray(p * vocab, (p + 1) * vocab));
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    return row.map((v) => v - lse);
  });
}

test("demo encoder: masked bytes are predicted from context, well below the unigram cross-entropy, and a [MASK]'s prediction follows its context", { skip }, async (t) => {
  const tokenizer = loadTokenizer(TOKENIZER);
  const mask = tokenizer.specials.mask!;
  const corpus = bundledCorpus();
  const train = tokenizer.encode(corpus.split("train"));
  const ids = tokenizer.encode(corpus.split("test")).slice(0, 40 * SEQ);
  const counts = new Map<number, number>();
  for (const id of train) counts.set(id, (counts.get(id) ?? 0) + 1);
  const unigram = (id: number) => Math.log(((counts.get(id) ?? 0) + 1) / (train.length + tokenizer.vocabSize));

  const session = await ort.InferenceSession.create(MODEL, { logSeverityLevel: 3 });
  const random = seededRandom(0);
  let nll = 0;
  let unigramNll = 0;
  let scored = 0;
  let variation = 0;
  let pairs = 0;
  try {
    const windows = ids.length / SEQ;
    for (let w = 0; w < windows; w++) {
      const window = ids.slice(w * SEQ, (w + 1) * SEQ);
      // Every position is a [MASK] candidate once in ten; the others keep their byte.
      const masked = window.map((_, i) => i).filter(() => random() < 0.1);
      if (masked.length === 0) continue;
      const input = window.map((id, i) => (masked.includes(i) ? mask : id));
      const lp = await logProbs(session, input);
      for (const i of masked) {
        nll -= lp[i]![window[i]!]!;
        unigramNll -= unigram(window[i]!);
        scored++;
      }
      // The same [MASK]s in another window's bytes: a model that reads context predicts differently.
      const other = ids.slice(((w + windows / 2) % windows) * SEQ, ((w + windows / 2) % windows + 1) * SEQ);
      const lpOther = await logProbs(session, other.map((id, i) => (masked.includes(i) ? mask : id)));
      for (const i of masked) {
        let tv = 0;
        for (let k = 0; k < lp[i]!.length; k++) tv += Math.abs(Math.exp(lp[i]![k]!) - Math.exp(lpOther[i]![k]!));
        variation += tv / 2;
        pairs++;
      }
    }
  } finally {
    await session.release();
  }
  const loss = nll / scored;
  const baseline = unigramNll / scored;
  const tv = variation / pairs;
  t.diagnostic(`${scored} masked bytes: model ${loss.toFixed(3)} nats, unigram ${baseline.toFixed(3)} nats; mean total variation between contexts ${tv.toFixed(3)}`);
  assert.ok(scored > 150, `${scored} masked positions`);
  assert.ok(loss < baseline - 0.75, `the encoder scores ${loss.toFixed(3)} nats at masked bytes; byte frequencies alone score ${baseline.toFixed(3)}`);
  assert.ok(tv > 0.3, `a [MASK]'s predicted distribution hardly changes with its context (mean total variation ${tv.toFixed(3)})`);
});
