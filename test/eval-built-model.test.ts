import { test } from "node:test";
import assert from "node:assert/strict";
import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema } from "onnx-buf";
import * as ort from "onnxruntime-node";
import { buildModel } from "../src/models/index.ts";
import { evaluatePerplexity } from "../src/eval/evaluate.ts";
import type { LoadedTokenizer } from "../src/eval/tokenizer.ts";

// Models built in the test, and a byte tokenizer: no shared data needed, so this runs in CI too.
const VOCAB = 300;
const byteTokenizer: LoadedTokenizer = {
  file: "<bytes>",
  kind: "other",
  vocabSize: VOCAB,
  specials: { eos: 257, pad: 256 },
  specialIds: new Set([256, 257]),
  hash: "bytes-v1",
  encode: (text) => [...Buffer.from(text, "utf8")],
  decode: (ids) => Buffer.from(ids).toString("utf8"),
  tokenToId: () => undefined,
};
const text = "Pruning a transformer: how much can go, and what does it cost in perplexity? ".repeat(3);

function logSoftmaxAt(logits: Float32Array, position: number, label: number): number {
  const row = logits.subarray(position * VOCAB, (position + 1) * VOCAB);
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return row[label]! - max - Math.log(sum);
}

const int64 = (values: ArrayLike<number>, dims: number[]) => new ort.Tensor("int64", BigInt64Array.from(Array.from(values), BigInt), dims);
const ones = (n: number, dims: number[]) => new ort.Tensor("int64", new BigInt64Array(n).fill(1n), dims);

test("built decoder: paper-protocol perplexity equals an independent softmax over plain logits (1e-4)", async () => {
  const model = buildModel({ family: "decoder", preset: "tiny", sizes: { vocab: VOCAB, layers: 1, dModel: 32, heads: 2, dFF: 64 }, seed: 3 });
  const seqLen = 40;
  const result = await evaluatePerplexity(model, byteTokenizer, text, "repeated", { seqLen, protocol: "paper-nonoverlap", batchSize: 2, cacheDir: null, joinRows: false });
  const ids = byteTokenizer.encode(text);
  const session = await ort.InferenceSession.create(toBinary(ModelProtoSchema, model.proto), { logSeverityLevel: 3 });
  let nll = 0;
  let count = 0;
  for (let k = 0; (k + 1) * seqLen <= ids.length; k++) {
    const window = ids.slice(k * seqLen, (k + 1) * seqLen);
    const logits = (await session.run({ input_ids: int64(window, [1, seqLen]), attention_mask: ones(seqLen, [1, seqLen]) })).logits!.data as Float32Array;
    for (let t = 0; t + 1 < seqLen; t++, count++) nll -= logSoftmaxAt(logits, t, window[t + 1]!);
  }
  await session.release();
  const expected = Math.exp(nll / count);
  assert.equal(result.perplexity.tokens, count);
  assert.ok(Math.abs(result.perplexity.token - expected) / expected < 1e-4, `${result.perplexity.token} vs ${expected}`);
});

test("built encoder-decoder: chunk perplexity equals an independent softmax over plain logits (1e-4)", async () => {
  const model = buildModel({ family: "encoder-decoder", preset: "tiny", sizes: { vocab: VOCAB, layers: 1, dModel: 32, heads: 2, dFF: 64 }, seed: 4 });
  const L = 24;
  const result = await evaluatePerplexity(model, byteTokenizer, text, "repeated", { seqLen: L, batchSize: 3, cacheDir: null });
  assert.equal(result.family, "encoder-decoder");
  assert.equal(result.perplexity.protocol, "seq2seq-chunk");
  const ids = byteTokenizer.encode(text);
  const session = await ort.InferenceSession.create(toBinary(ModelProtoSchema, model.proto), { logSeverityLevel: 3 });
  let nll = 0;
  let count = 0;
  for (let k = 1; (k + 1) * L <= ids.length; k++) {
    const encoder = [...ids.slice((k - 1) * L + 1, k * L), 257];
    const target = ids.slice(k * L, (k + 1) * L);
    const decoder = [256, ...target.slice(0, L - 1)];
    const feeds: Record<string, ort.Tensor> = { input_ids: int64(encoder, [1, L]), attention_mask: ones(L, [1, L]), decoder_input_ids: int64(decoder, [1, L]) };
    const logits = (await session.run(feeds)).logits!.data as Float32Array;
    for (let t = 0; t < L; t++, count++) nll -= logSoftmaxAt(logits, t, target[t]!);
  }
  await session.release();
  const expected = Math.exp(nll / count);
  assert.equal(result.perplexity.tokens, count);
  assert.ok(Math.abs(result.perplexity.token - expected) / expected < 1e-4, `${result.perplexity.token} vs ${expected}`);
});
