/**
 * Tokenizers through @huggingface/tokenizers: a tokenizer.json (byte-level BPE as GPT-2,
 * WordPiece as BERT, Unigram as T5/Pegasus), or the older vocab.json + merges.txt (GPT-2 BPE)
 * and vocab.txt (BERT WordPiece) files, turned into the equivalent tokenizer.json in memory.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { UserError } from "../errors.ts";

export type TokenizerKind = "bpe" | "wordpiece" | "unigram" | "other";

export interface SpecialIds {
  cls?: number;
  sep?: number;
  mask?: number;
  pad?: number;
  bos?: number;
  eos?: number;
  unk?: number;
}

export interface LoadedTokenizer {
  /** The file it came from (tokenizer.json, vocab.json or vocab.txt). */
  file: string;
  kind: TokenizerKind;
  /** Highest id + 1, counting added tokens. */
  vocabSize: number;
  specials: SpecialIds;
  /** Every special id (never masked, never scored in masked LM). */
  specialIds: Set<number>;
  /** sha256 of the normalized tokenizer.json: the cache key of token ids. */
  hash: string;
  /** Ids of `text` without special tokens (no [CLS]/[SEP], no truncation or padding). */
  encode(text: string): number[];
  decode(ids: number[]): string;
  tokenToId(token: string): number | undefined;
}

export class TokenizerError extends UserError {
  constructor(file: string, field: string, message: string) {
    super(`${file}: ${field} ${message}`, { file, field });
  }
}

type Json = Record<string, unknown>;

/** Loads a tokenizer from a file or a folder holding tokenizer.json, vocab.json + merges.txt, or vocab.txt. */
export function loadTokenizer(fileOrDir: string): LoadedTokenizer {
  let file = path.resolve(fileOrDir);
  if (!existsSync(file)) throw new TokenizerError(fileOrDir, "file", "not found");
  if (statSync(file).isDirectory()) {
    const pick = ["tokenizer.json", "vocab.json", "vocab.txt"].map((n) => path.join(file, n)).find((p) => existsSync(p));
    if (!pick) throw new TokenizerError(fileOrDir, "folder", "holds no tokenizer.json, vocab.json + merges.txt or vocab.txt");
    file = pick;
  }
  const dir = path.dirname(file);
  const config = readJsonIfPresent(path.join(dir, "tokenizer_config.json"));
  let json: Json;
  const base = path.basename(file);
  if (base.endsWith(".txt")) json = wordPieceJson(file, config);
  else {
    const parsed = parseJson(file);
    if (parsed.model && typeof parsed.model === "object") json = parsed;
    else if (base === "vocab.json" || Object.values(parsed).every((v) => typeof v === "number")) json = byteLevelBpeJson(file, parsed);
    else throw new TokenizerError(file, "model", "is missing: not a tokenizer.json nor a vocab.json");
  }
  return fromJson(file, json, config);
}

function parseJson(file: string): Json {
  try {
    const value: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("not a JSON object");
    return value as Json;
  } catch (error) {
    throw new TokenizerError(file, "content", `is not valid JSON: ${(error as Error).message.replace(/[^\x20-\x7e]+/g, " ")}`);
  }
}

function readJsonIfPresent(file: string): Json {
  return existsSync(file) ? parseJson(file) : {};
}

/** GPT-2's tokenizer.json, rebuilt from vocab.json + merges.txt (as transformers' GPT2TokenizerFast does). */
function byteLevelBpeJson(file: string, vocab: Json): Json {
  const mergesFile = path.join(path.dirname(file), "merges.txt");
  if (!existsSync(mergesFile)) throw new TokenizerError(file, "merges.txt", "is missing beside vocab.json");
  const merges = readFileSync(mergesFile, "utf8")
    .split("\n")
    .filter((line, i) => line.trim() !== "" && !(i === 0 && line.startsWith("#version")));
  for (const [i, m] of merges.entries()) {
    if (m.split(" ").length !== 2) throw new TokenizerError(mergesFile, `line ${i + 2}`, `${JSON.stringify(m)} is not a pair`);
  }
  const eos = "<|endoftext|>";
  const added = typeof vocab[eos] === "number" ? [{ id: vocab[eos], content: eos, special: true, single_word: false, lstrip: false, rstrip: false, normalized: true }] : [];
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "", fuse_unk: false, vocab, merges },
  };
}

/** BERT's tokenizer.json, rebuilt from vocab.txt (lowercasing from tokenizer_config.json, default true). */
function wordPieceJson(file: string, config: Json): Json {
  const lines = readFileSync(file, "utf8").split("\n");
  if (lines.at(-1) === "") lines.pop();
  const vocab: Record<string, number> = {};
  lines.forEach((token, id) => {
    const t = token.replace(/\r$/, "");
    if (!(t in vocab)) vocab[t] = id;
  });
  if (!("[UNK]" in vocab)) throw new TokenizerError(file, "[UNK]", "is not in the vocabulary; a WordPiece vocab.txt needs it");
  const lowercase = config.do_lower_case === undefined ? true : Boolean(config.do_lower_case);
  const specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].filter((t) => t in vocab);
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specials.map((t) => ({ id: vocab[t], content: t, special: true, single_word: false, lstrip: false, rstrip: false, normalized: false })),
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: null,
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab },
  };
}

function kindOf(model: Json): TokenizerKind {
  const type = typeof model.type === "string" ? model.type : undefined;
  if (type === "BPE" || (!type && "merges" in model)) return "bpe";
  if (type === "WordPiece" || (!type && "continuing_subword_prefix" in model)) return "wordpiece";
  if (type === "Unigram" || (!type && Array.isArray(model.vocab))) return "unigram";
  return "other";
}

const SPECIAL_NAMES: Record<keyof SpecialIds, string[]> = {
  cls: ["[CLS]", "<s>"],
  sep: ["[SEP]", "</s>"],
  mask: ["[MASK]", "<mask>", "<mask_1>", "<mask_2>"],
  pad: ["[PAD]", "<pad>"],
  bos: ["<s>", "<|endoftext|>", "[CLS]"],
  eos: ["</s>", "<|endoftext|>", "[SEP]"],
  unk: ["[UNK]", "<unk>"],
};

function fromJson(file: string, source: Json, config: Json): LoadedTokenizer {
  if (!source.model || typeof source.model !== "object") throw new TokenizerError(file, "model", "is missing or not an object");
  // Evaluation tokenizes whole splits: the file's own truncation and padding (bert-base-uncased's
  // tokenizer.json ships max_length 128 with fixed padding) would silently cut the text.
  const json: Json = { ...source, truncation: null, padding: null };
  const model = json.model as Json;
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (error) {
    throw new TokenizerError(file, "model", `cannot be loaded: ${(error as Error).message}`);
  }
  let vocabSize = 0;
  const vocab = model.vocab;
  if (Array.isArray(vocab)) vocabSize = vocab.length;
  else if (vocab && typeof vocab === "object") for (const id of Object.values(vocab as Record<string, number>)) vocabSize = Math.max(vocabSize, id + 1);
  const added = Array.isArray(json.added_tokens) ? (json.added_tokens as { id: number; content: string; special?: boolean }[]) : [];
  for (const t of added) vocabSize = Math.max(vocabSize, t.id + 1);

  const specials: SpecialIds = {};
  for (const [key, names] of Object.entries(SPECIAL_NAMES) as [keyof SpecialIds, string[]][]) {
    const fromConfig = config[`${key}_token`];
    const candidates = typeof fromConfig === "string" ? [fromConfig, ...names] : names;
    for (const name of candidates) {
      const id = tokenizer.token_to_id(name);
      if (id !== undefined) {
        specials[key] = id;
        break;
      }
    }
  }
  const specialIds = new Set(added.filter((t) => t.special).map((t) => t.id));
  for (const id of Object.values(specials)) if (id !== undefined && id !== specials.unk) specialIds.add(id);

  const hash = createHash("sha256").update(stableStringify(json)).digest("hex");
  return {
    file,
    kind: kindOf(model),
    vocabSize,
    specials,
    specialIds,
    hash,
    encode: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => tokenizer.decode(ids),
    tokenToId: (token) => tokenizer.token_to_id(token),
  };
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
