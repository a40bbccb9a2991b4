import { test } from "node:test";
import assert from "node:assert/strict";
import { IGNORE_INDEX } from "../src/eval/loss-graph.ts";
import { maskedLm, paperNonOverlap, pseudoPerplexity, seq2seq, slidingWindow, type Plan } from "../src/eval/protocols.ts";
import type { LoadedTokenizer } from "../src/eval/tokenizer.ts";
import { joinHfRows } from "../src/eval/text.ts";

const stream = (n: number) => Int32Array.from({ length: n }, (_, i) => 1000 + i);

/** Absolute stream positions scored by a decoder plan, found from the labels' values. */
function scoredPositions(plan: Plan): number[] {
  const out: number[] = [];
  for (let i = 0; i < plan.count; i++) {
    const e = plan.example(i);
    e.labels.forEach((label, t) => {
      if (label === IGNORE_INDEX) return;
      assert.equal(label, e.inputIds[t + 1] ?? label, "a label is the next token of its window");
      out.push(label - 1000);
    });
  }
  return out;
}

test("overlapping sliding windows score every token after the first exactly once", () => {
  for (const [n, seqLen, stride] of [[100, 16, 8], [100, 16, 15], [101, 16, 5], [16, 16, 4], [57, 10, 1], [1000, 64, 63]] as const) {
    const plan = slidingWindow(stream(n), { seqLen, stride });
    const scored = scoredPositions(plan).sort((a, b) => a - b);
    assert.deepEqual(scored, Array.from({ length: n - 1 }, (_, i) => i + 1), `n=${n} L=${seqLen} stride=${stride}`);
    assert.equal(plan.scoredTokens, n - 1);
    for (let i = 0; i < plan.count; i++) assert.ok(plan.example(i).inputIds.length <= seqLen);
  }
});

test("stride == seq_len is HF's non-overlapping case: a window's first token has no context and is not scored", () => {
  const plan = slidingWindow(stream(48), { seqLen: 16, stride: 16 });
  assert.equal(plan.count, 3);
  const scored = new Set(scoredPositions(plan));
  assert.deepEqual([16, 32].filter((p) => scored.has(p)), []);
  assert.equal(plan.scoredTokens, 45);
});

test("sliding windows give each scored token the context the HF loop gives it", () => {
  const plan = slidingWindow(stream(40), { seqLen: 16, stride: 8 });
  const second = plan.example(1);
  assert.equal(second.inputIds[0], 1008);
  // Window 2 covers 8..23 and scores targets 16..23: positions 7..14 of the window.
  assert.deepEqual([...second.labels].map((l, t) => (l === IGNORE_INDEX ? -1 : t)).filter((t) => t >= 0), [7, 8, 9, 10, 11, 12, 13, 14]);
});

test("paper protocol: non-overlapping windows, tail dropped, all positions scored", () => {
  const plan = paperNonOverlap(stream(70), { seqLen: 16 });
  assert.equal(plan.count, 4);
  assert.equal(plan.scoredTokens, 4 * 15);
  assert.equal(plan.coveredTokens, 64);
  assert.throws(() => paperNonOverlap(stream(10), { seqLen: 16 }), /10 tokens, shorter than one window/);
  assert.throws(() => slidingWindow(stream(10), { seqLen: 16 }), /shorter than one window/);
});

test("joinHfRows joins lines as '\\n\\n'.join(dataset rows), blank lines as empty rows", () => {
  assert.equal(joinHfRows(" \n = A = \n text\n"), "\n\n = A = \n\n\n text\n");
});

const bertLike: LoadedTokenizer = {
  file: "test-tokenizer",
  kind: "wordpiece",
  vocabSize: 5000,
  specials: { cls: 101, sep: 102, mask: 103, pad: 0 },
  specialIds: new Set([0, 101, 102, 103]),
  hash: "x",
  encode: () => [],
  decode: () => "",
  tokenToId: () => undefined,
};

function maskSignature(plan: Plan): string {
  const parts: string[] = [];
  for (let i = 0; i < plan.count; i++) parts.push(Array.from(plan.example(i).inputIds).join(","), Array.from(plan.example(i).labels).join(","));
  return parts.join("|");
}

test("masked-LM masking is deterministic per seed and follows 15% with 80/10/10", () => {
  const ids = stream(20_000);
  const a = maskedLm(ids, bertLike, { seqLen: 128, seed: 1 });
  const b = maskedLm(ids, bertLike, { seqLen: 128, seed: 1 });
  const c = maskedLm(ids, bertLike, { seqLen: 128, seed: 2 });
  assert.equal(maskSignature(a), maskSignature(b));
  assert.notEqual(maskSignature(a), maskSignature(c));
  let chosen = 0;
  let masked = 0;
  let kept = 0;
  let content = 0;
  for (let i = 0; i < a.count; i++) {
    const e = a.example(i);
    assert.equal(e.inputIds[0], 101);
    assert.equal(e.inputIds[127], 102);
    assert.equal(e.labels[0], IGNORE_INDEX, "[CLS] is never chosen");
    assert.equal(e.labels[127], IGNORE_INDEX, "[SEP] is never chosen");
    content += 126;
    e.labels.forEach((label, t) => {
      if (label === IGNORE_INDEX) return;
      chosen++;
      if (e.inputIds[t] === 103) masked++;
      else if (e.inputIds[t] === label) kept++;
    });
  }
  assert.equal(a.count, Math.floor(20_000 / 126));
  assert.ok(Math.abs(chosen / content - 0.15) < 0.01, `chosen share ${chosen / content}`);
  assert.ok(Math.abs(masked / chosen - 0.8) < 0.03, `[MASK] share ${masked / chosen}`);
  assert.ok(Math.abs(kept / chosen - 0.1) < 0.03, `kept share ${kept / chosen}`);
});

test("pseudo-perplexity masks one token at a time, up to the token budget", () => {
  const plan = pseudoPerplexity(stream(300), bertLike, { seqLen: 10, tokenBudget: 20 });
  assert.equal(plan.count, 20);
  for (let i = 0; i < plan.count; i++) {
    const e = plan.example(i);
    const scored = [...e.labels].filter((l) => l !== IGNORE_INDEX);
    assert.equal(scored.length, 1);
    const t = e.labels.findIndex((l) => l !== IGNORE_INDEX);
    assert.equal(e.inputIds[t], 103);
    assert.equal(t, 1 + (i % 8));
  }
});

test("seq2seq chunks: encoder reads the previous chunk, decoder is teacher-forced on the next", () => {
  const tok = { ...bertLike, specials: { eos: 2, pad: 0 } };
  const plan = seq2seq(stream(50), tok, { seqLen: 10 });
  assert.equal(plan.count, 4);
  const e = plan.example(0);
  assert.deepEqual([...e.encoderIds!], [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 2]);
  assert.deepEqual([...e.inputIds], [0, 1010, 1011, 1012, 1013, 1014, 1015, 1016, 1017, 1018]);
  assert.deepEqual([...e.labels], [1010, 1011, 1012, 1013, 1014, 1015, 1016, 1017, 1018, 1019]);
  assert.equal(plan.scoredTokens, 40);
  assert.throws(() => seq2seq(stream(15), tok, { seqLen: 10 }), /two chunks/);
  const denoise = seq2seq(stream(50), bertLike, { seqLen: 10, denoise: true, seed: 3 });
  assert.equal(denoise.count, 5);
  assert.ok([...Array(5).keys()].some((i) => denoise.example(i).encoderIds!.includes(103)));
});
