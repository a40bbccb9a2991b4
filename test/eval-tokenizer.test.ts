import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadTokenizer, type LoadedTokenizer } from "../src/eval/tokenizer.ts";
import { tokenizeCached } from "../src/eval/token-cache.ts";
import { joinHfRows } from "../src/eval/text.ts";
import { SHARED_TOKENIZERS, WIKITEXT_RAW, skipWithoutShared } from "./helpers/shared-data.ts";

const gpt2Dir = path.join(SHARED_TOKENIZERS, "gpt2");
const bertDir = path.join(SHARED_TOKENIZERS, "bert-base-uncased");

test("GPT-2 byte-level BPE: ids of fixed strings are the vocab.json ids of the expected pieces", { skip: skipWithoutShared(gpt2Dir) }, () => {
  const vocab = JSON.parse(readFileSync(path.join(gpt2Dir, "vocab.json"), "utf8")) as Record<string, number>;
  // "Ġ" is the byte-level symbol of a space, "Ċ" of "\n".
  const cases: [string, string[]][] = [
    ["Hello world", ["Hello", "Ġworld"]],
    [" = Robert Boulter = \n", ["Ġ=", "ĠRobert", "ĠB", "oul", "ter", "Ġ=", "Ġ", "Ċ"]],
    ["The tokenizer's test.\n\n", ["The", "Ġtoken", "izer", "'s", "Ġtest", ".", "ĊĊ"]],
  ];
  for (const file of ["tokenizer.json", "vocab.json"]) {
    const tok = loadTokenizer(path.join(gpt2Dir, file));
    assert.equal(tok.kind, "bpe");
    assert.equal(tok.vocabSize, 50257);
    assert.equal(tok.specials.eos, vocab["<|endoftext|>"]);
    for (const [text, pieces] of cases) {
      assert.deepEqual(tok.encode(text), pieces.map((p) => vocab[p]), `${file}: ${JSON.stringify(text)}`);
    }
  }
});

test("BERT WordPiece: ids are vocab.txt line numbers; the file's truncation and padding are off", { skip: skipWithoutShared(bertDir) }, () => {
  const lines = readFileSync(path.join(bertDir, "vocab.txt"), "utf8").split("\n");
  const id = (token: string) => lines.indexOf(token);
  for (const file of ["tokenizer.json", "vocab.txt"]) {
    const tok = loadTokenizer(path.join(bertDir, file));
    assert.equal(tok.kind, "wordpiece");
    assert.equal(tok.vocabSize, 30522);
    assert.deepEqual(
      { cls: tok.specials.cls, sep: tok.specials.sep, mask: tok.specials.mask, pad: tok.specials.pad },
      { cls: id("[CLS]"), sep: id("[SEP]"), mask: id("[MASK]"), pad: id("[PAD]") },
    );
    assert.deepEqual(tok.encode("Hello, World!"), ["hello", ",", "world", "!"].map(id));
    assert.deepEqual(tok.encode("The Tokenizer"), ["the", "token", "##izer"].map(id));
    const long = tok.encode("word ".repeat(300));
    assert.equal(long.length, 300, `${file}: truncation must be off`);
    assert.ok(!long.includes(id("[PAD]")));
  }
});

test("vocab.json + merges.txt and tokenizer.json agree on a WikiText slice", { skip: skipWithoutShared(gpt2Dir, WIKITEXT_RAW) }, () => {
  const text = readFileSync(path.join(WIKITEXT_RAW, "wiki.test.raw"), "utf8").slice(0, 4000);
  assert.deepEqual(loadTokenizer(path.join(gpt2Dir, "vocab.json")).encode(text), loadTokenizer(path.join(gpt2Dir, "tokenizer.json")).encode(text));
});

test("the WikiText-2 test split as HF rows joined by \\n\\n is 287,644 GPT-2 tokens, as in the HF perplexity guide", { skip: skipWithoutShared(gpt2Dir, WIKITEXT_RAW) }, () => {
  const text = readFileSync(path.join(WIKITEXT_RAW, "wiki.test.raw"), "utf8");
  assert.equal(loadTokenizer(path.join(gpt2Dir, "tokenizer.json")).encode(joinHfRows(text)).length, 287_644);
});

test("Unigram (SentencePiece as T5/Pegasus): the best-scoring segmentation, mask and eos found", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-unigram-"));
  try {
    const special = (id: number, content: string) => ({ id, content, special: true, single_word: false, lstrip: false, rstrip: false, normalized: false });
    const metaspace = { type: "Metaspace", replacement: "\u2581", add_prefix_space: true, prepend_scheme: "always" };
    const pieces: [string, number][] = [["<pad>", 0], ["</s>", 0], ["<unk>", 0], ["<mask_1>", 0], ["\u2581", -2], ["\u2581prun", -3], ["ing", -3], ["\u2581pruning", -2.5], ["\u2581is", -2], ["\u2581fun", -2.5], ["s", -4]];
    writeFileSync(
      path.join(dir, "tokenizer.json"),
      JSON.stringify({
        version: "1.0",
        truncation: null,
        padding: null,
        added_tokens: [special(0, "<pad>"), special(1, "</s>"), special(2, "<unk>"), special(3, "<mask_1>")],
        normalizer: null,
        pre_tokenizer: metaspace,
        post_processor: null,
        decoder: metaspace,
        model: { type: "Unigram", unk_id: 2, vocab: pieces },
      }),
    );
    const tok = loadTokenizer(dir);
    assert.equal(tok.kind, "unigram");
    assert.equal(tok.vocabSize, pieces.length);
    assert.deepEqual({ pad: tok.specials.pad, eos: tok.specials.eos, mask: tok.specials.mask }, { pad: 0, eos: 1, mask: 3 });
    // "\u2581pruning" (-2.5) beats "\u2581prun" + "ing" (-6).
    assert.deepEqual(tok.encode("pruning is fun"), [7, 8, 9]);
    assert.deepEqual(tok.encode("prunings"), [7, 10]);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("bad tokenizer files give errors naming the file", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-tok-"));
  try {
    assert.throws(() => loadTokenizer(path.join(dir, "missing.json")), /missing\.json: file not found/);
    assert.throws(() => loadTokenizer(dir), /holds no tokenizer\.json/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("token ids are cached by tokenizer and text hash, and read back without tokenizing", { skip: skipWithoutShared(gpt2Dir) }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-cache-"));
  try {
    const tok = loadTokenizer(gpt2Dir);
    const first = tokenizeCached(tok, "Hello world, once.", { cacheDir: dir });
    assert.equal(readdirSync(path.join(dir, "tokens")).length, 1);
    const refusing: LoadedTokenizer = { ...tok, encode: () => assert.fail("should come from the cache") };
    assert.deepEqual(tokenizeCached(refusing, "Hello world, once.", { cacheDir: dir }), first);
    tokenizeCached(tok, "Another text.", { cacheDir: dir });
    assert.equal(readdirSync(path.join(dir, "tokens")).length, 2);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
