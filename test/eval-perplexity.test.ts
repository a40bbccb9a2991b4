import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { readModel } from "../src/onnx/index.ts";
import { evaluatePerplexity } from "../src/eval/evaluate.ts";
import { loadTokenizer } from "../src/eval/tokenizer.ts";
import { joinHfRows } from "../src/eval/text.ts";
import { SHARED_TOKENIZERS, TORCH_EXPORT, WIKITEXT_RAW, skipWithoutShared } from "./helpers/shared-data.ts";

const wiki = path.join(WIKITEXT_RAW, "wiki.test.raw");
const gpt2Tok = path.join(SHARED_TOKENIZERS, "gpt2");
const bertTok = path.join(SHARED_TOKENIZERS, "bert-base-uncased");
const slice = (chars: number) => readFileSync(wiki, "utf8").slice(0, chars);

function logSoftmaxAt(logits: Float32Array, vocab: number, position: number, label: number): number {
  const row = logits.subarray(position * vocab, (position + 1) * vocab);
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return row[label]! - max - Math.log(sum);
}

test("decoder sliding-window perplexity equals an independent softmax over plain-session logits", { skip: skipWithoutShared(TORCH_EXPORT.gpt2, wiki, gpt2Tok) }, async () => {
  const tokenizer = loadTokenizer(gpt2Tok);
  const text = slice(1500);
  const seqLen = 24;
  const stride = 10;
  const result = await evaluatePerplexity(readModel(TORCH_EXPORT.gpt2), tokenizer, text, "slice", { seqLen, stride, batchSize: 3, cacheDir: null });

  // Reference: the Hugging Face loop, written out again, on logits from an unmodified session.
  const ids = tokenizer.encode(joinHfRows(text));
  const session = await ort.InferenceSession.create(TORCH_EXPORT.gpt2, { logSeverityLevel: 3 });
  let nll = 0;
  let count = 0;
  let prevEnd = 0;
  for (let begin = 0; begin < ids.length; begin += stride) {
    const end = Math.min(begin + seqLen, ids.length);
    const window = ids.slice(begin, end);
    const S = window.length;
    const out = await session.run({
      input_ids: new ort.Tensor("int64", BigInt64Array.from(window, BigInt), [1, S]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(S).fill(1n), [1, S]),
    });
    const logits = out.logits!.data as Float32Array;
    const trgLen = end - prevEnd;
    for (let j = Math.max(1, S - trgLen); j < S; j++) {
      nll -= logSoftmaxAt(logits, 50257, j - 1, window[j]!);
      count++;
    }
    prevEnd = end;
    if (end === ids.length) break;
  }
  await session.release();
  const expected = Math.exp(nll / count);
  assert.equal(result.perplexity.tokens, count);
  assert.equal(result.perplexity.tokens, ids.length - 1, "every token after the first is scored once");
  assert.ok(Math.abs(result.perplexity.token - expected) / expected < 1e-4, `${result.perplexity.token} vs ${expected}`);
  assert.equal(result.perplexity.protocol, "sliding-window");
  assert.equal(result.perplexity.partial, false);
  assert.ok(result.runMs <= result.wallMs);
});

test("masked-LM perplexity equals an independent softmax at the masked positions", { skip: skipWithoutShared(TORCH_EXPORT.bert, wiki, bertTok) }, async () => {
  const tokenizer = loadTokenizer(bertTok);
  const text = slice(2000);
  const model = readModel(TORCH_EXPORT.bert);
  const options = { seqLen: 32, batchSize: 4, seed: 7, cacheDir: null };
  const a = await evaluatePerplexity(model, tokenizer, text, "slice", options);
  const b = await evaluatePerplexity(model, tokenizer, text, "slice", options);
  assert.equal(a.perplexity.token, b.perplexity.token, "same seed, same masking, same number");
  assert.equal(a.family, "encoder");

  const { maskedLm } = await import("../src/eval/protocols.ts");
  const plan = maskedLm(Int32Array.from(tokenizer.encode(text)), tokenizer, { seqLen: 32, seed: 7 });
  const session = await ort.InferenceSession.create(TORCH_EXPORT.bert, { logSeverityLevel: 3 });
  let nll = 0;
  let count = 0;
  for (let i = 0; i < plan.count; i++) {
    const e = plan.example(i);
    const out = await session.run({
      input_ids: new ort.Tensor("int64", BigInt64Array.from(e.inputIds, (v) => BigInt(v)), [1, 32]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(32).fill(1n), [1, 32]),
      token_type_ids: new ort.Tensor("int64", new BigInt64Array(32), [1, 32]),
    });
    e.labels.forEach((label, t) => {
      if (label < 0) return;
      nll -= logSoftmaxAt(out.logits!.data as Float32Array, 30522, t, label);
      count++;
    });
  }
  await session.release();
  const expected = Math.exp(nll / count);
  assert.equal(a.perplexity.tokens, count);
  assert.ok(Math.abs(a.perplexity.token - expected) / expected < 1e-4, `${a.perplexity.token} vs ${expected}`);
});

// Random weights: the model cannot predict, so perplexity lands near the vocabulary size.
const families = [
  { name: "decoder (gpt2)", model: TORCH_EXPORT.gpt2, tok: gpt2Tok, vocab: 50257, options: { seqLen: 32, stride: 16 } },
  { name: "decoder, paper protocol", model: TORCH_EXPORT.gpt2, tok: gpt2Tok, vocab: 50257, options: { seqLen: 32, protocol: "paper-nonoverlap" as const } },
  { name: "encoder (bert)", model: TORCH_EXPORT.bert, tok: bertTok, vocab: 30522, options: { seqLen: 32 } },
  { name: "encoder, pseudo-perplexity", model: TORCH_EXPORT.bert, tok: bertTok, vocab: 30522, options: { seqLen: 32, protocol: "pseudo-ppl" as const, tokenBudget: 24 } },
  { name: "encoder-decoder (pegasus)", model: TORCH_EXPORT.pegasus, tok: gpt2Tok, vocab: 50257, options: { seqLen: 32 } },
];
for (const f of families) {
  test(`WikiText-2 slice, ${f.name}: perplexity of random weights is near the vocabulary size`, { skip: skipWithoutShared(f.model, wiki, f.tok) }, async () => {
    const result = await evaluatePerplexity(readModel(f.model), loadTokenizer(f.tok), slice(3000), "wikitext-2-raw/test[:3000]", { batchSize: 8, cacheDir: null, ...f.options });
    const p = result.perplexity;
    assert.ok(p.token > 0.5 * f.vocab && p.token < 2 * f.vocab, `token perplexity ${p.token} for vocabulary ${f.vocab}`);
    assert.ok(p.word > p.token, "a word spans more than one token");
    assert.ok(p.bitsPerByte > 1 && p.bitsPerByte < 8, `bits per byte ${p.bitsPerByte}`);
    assert.ok(p.tokens > 0 && p.words > 0 && p.bytes > p.words);
  });
}

test("a tokenizer whose ids the model cannot hold is refused before running", { skip: skipWithoutShared(TORCH_EXPORT.bert, gpt2Tok, wiki) }, async () => {
  await assert.rejects(
    evaluatePerplexity(readModel(TORCH_EXPORT.bert), loadTokenizer(gpt2Tok), slice(3000), "slice", { seqLen: 32, family: "encoder", cacheDir: null, protocol: "masked-lm" }),
    /has no mask token|vocabulary of 30522/,
  );
  await assert.rejects(
    evaluatePerplexity(readModel(TORCH_EXPORT.bert), loadTokenizer(gpt2Tok), slice(3000), "slice", { seqLen: 32, family: "decoder", cacheDir: null }),
    /produces id \d+, but model .* has a vocabulary of 30522/,
  );
  await assert.rejects(
    evaluatePerplexity(readModel(TORCH_EXPORT.gpt2), loadTokenizer(gpt2Tok), "too short", "tiny", { seqLen: 64, cacheDir: null }),
    /shorter than one window/,
  );
});

test("a stop request ends the run early with the partial result marked", { skip: skipWithoutShared(TORCH_EXPORT.gpt2, wiki, gpt2Tok) }, async () => {
  let batches = 0;
  const result = await evaluatePerplexity(readModel(TORCH_EXPORT.gpt2), loadTokenizer(gpt2Tok), slice(4000), "slice", {
    seqLen: 32,
    stride: 16,
    cacheDir: null,
    onProgress: () => batches++,
    shouldStop: () => batches >= 2,
  });
  assert.equal(result.perplexity.partial, true);
  assert.equal(result.batches, 2);
  assert.ok(result.perplexity.tokens > 0 && result.perplexity.tokens < 100);
});
