/**
 * Writes demo/tokenizer.json: a byte-level tokenizer (GPT-2's byte-to-unicode alphabet, no
 * merges) with four special tokens. 260 ids keep the demo models' embeddings tiny, so the
 * trained demo models are small enough to commit, and every text is encodable.
 *
 *   node --import tsx scripts/make-demo-tokenizer.ts
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeJsonAtomic } from "../src/util/atomic.ts";

/** GPT-2's reversible map from bytes to printable unicode characters (openai/gpt-2 encoder.py). */
function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const chars: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    chars[b] = printable.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + extra++);
  }
  return chars;
}

export const DEMO_SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<mask>"] as const;

export function demoTokenizer(): unknown {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((ch, byte) => (vocab[ch] = byte));
  const added = DEMO_SPECIAL_TOKENS.map((content, i) => ({
    id: 256 + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  for (const token of added) vocab[token.content] = token.id;
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: [],
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../demo/tokenizer.json");
  writeJsonAtomic(out, demoTokenizer());
  console.log(`wrote ${out}`);
}
