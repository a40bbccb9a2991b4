/**
 * Token ids of a split, computed once per (tokenizer, text) and kept in the cache folder as
 * little-endian int32, so repeated evaluations (every method x sparsity) skip tokenizing.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { readDataset } from "../data/resolve.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { loadTokenizer, type LoadedTokenizer } from "./tokenizer.ts";

export function defaultCacheDir(): string {
  return process.env.PRUNEBENCH_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "prunebench");
}

export interface TokenizeOptions {
  /** Folder for the cache; null turns caching off. Defaults to defaultCacheDir(). */
  cacheDir?: string | null;
}

export function tokenCacheKey(tokenizer: LoadedTokenizer, text: string): string {
  const textHash = createHash("sha256").update(text).digest("hex");
  return createHash("sha256").update(`${tokenizer.hash}\n${textHash}`).digest("hex").slice(0, 32);
}

/** The ids of `text` (no special tokens), read from the cache when this pair was seen before. */
export function tokenizeCached(tokenizer: LoadedTokenizer, text: string, options: TokenizeOptions = {}): Int32Array {
  const dir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  const file = dir === null ? null : path.join(dir, "tokens", `${tokenCacheKey(tokenizer, text)}.i32`);
  if (file && existsSync(file)) {
    const bytes = readFileSync(file);
    if (bytes.byteLength % 4 === 0) {
      const ids = new Int32Array(bytes.byteLength / 4);
      new Uint8Array(ids.buffer).set(bytes);
      return ids;
    }
  }
  const ids = Int32Array.from(tokenizer.encode(text));
  if (file) {
    try {
      writeFileAtomic(file, new Uint8Array(ids.buffer));
    } catch {
      // A read-only cache folder only costs the next run a re-tokenization.
    }
  }
  return ids;
}

/** `--tokenizer bytes`: UTF-8 bytes as ids, the vocabulary of prunebench's byte-level demo models. */
export const BYTE_TOKENIZER = "bytes";

export interface DatasetTokens {
  tokens: ArrayLike<number>;
  /** How results name the data: "bundled/train", or a file's path (relative to `configDir` when given). */
  label: string;
}

/**
 * Token ids of a dataset reference, for training and calibration: anything readDataset takes
 * (a file is named relative to `configDir`, as a config names it, else to the working folder),
 * tokenized by `tokenizer` (a tokenizer file or folder, or "bytes") and cached by tokenizer and text.
 */
export async function datasetTokens(ref: string, options: { tokenizer: string; cacheDir: string; configDir?: string }): Promise<DatasetTokens> {
  const read = await readDataset(ref, { configDir: options.configDir, cacheDir: options.cacheDir });
  const label = options.configDir && path.isAbsolute(read.label) ? path.relative(options.configDir, read.label) : read.label;
  if (options.tokenizer === BYTE_TOKENIZER) return { tokens: Uint8Array.from(Buffer.from(read.text, "utf8")), label };
  return { tokens: tokenizeCached(loadTokenizer(options.tokenizer), read.text, { cacheDir: options.cacheDir }), label };
}
