import { existsSync } from "node:fs";
import path from "node:path";
import { readDataset } from "../data/resolve.ts";
import { sha256Hex } from "../data/corpus.ts";
import { datasetTokens as tokensOf, tokenizeCached } from "../eval/token-cache.ts";
import { loadTokenizer } from "../eval/tokenizer.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import type { RunContext } from "./context.ts";

export interface DatasetText {
  /** A file holding exactly the text evaluated (the evaluation worker reads files). */
  file: string;
  /** Names the data in results: "bundled/test", "wikitext-2-raw/test". */
  label: string;
  text: string;
}

/**
 * The text of a dataset reference, optionally cut to about `maxTokens` tokens (a prefix of the
 * split, cut at a space), written once to the run's data folder.
 */
export async function datasetText(ctx: RunContext, ref: string, maxTokens?: number): Promise<DatasetText> {
  const read = await readRef(ctx, ref);
  const label = read.label;
  let text = read.text;
  let name = label;
  if (maxTokens !== undefined) {
    const ids = tokenizeCached(loadTokenizer(ctx.tokenizerFile), text, { cacheDir: ctx.cacheDir });
    if (ids.length > maxTokens) {
      const approx = Math.floor((text.length * maxTokens) / ids.length);
      const cut = text.lastIndexOf(" ", approx);
      text = text.slice(0, cut > approx / 2 ? cut + 1 : approx);
      name = `${label} (first ~${maxTokens} tokens)`;
    }
  }
  const file = path.join(ctx.dataDir, `${sha256Hex(text).slice(0, 24)}.txt`);
  if (!existsSync(file)) writeFileAtomic(file, text);
  return { file, label: name, text };
}

/** Token ids of a config's dataset reference, with the run's tokenizer and cache (src/eval/token-cache.ts). */
export async function datasetTokens(ctx: RunContext, ref: string): Promise<ArrayLike<number>> {
  return (await tokensOf(ref, { tokenizer: ctx.tokenizerFile, cacheDir: ctx.cacheDir, configDir: ctx.loaded.dir })).tokens;
}

/** How results name a dataset reference ("bundled/train", "wikitext-2-raw/test"). */
export async function datasetLabel(ctx: RunContext, ref: string): Promise<string> {
  return (await readRef(ctx, ref)).label;
}

/** A config's dataset reference, read as readDataset reads any; a file is named relative to the config. */
async function readRef(ctx: RunContext, ref: string): Promise<{ text: string; label: string }> {
  const read = await readDataset(ref, { configDir: ctx.loaded.dir, cacheDir: ctx.cacheDir });
  return { text: read.text, label: path.isAbsolute(read.label) ? path.relative(ctx.loaded.dir, read.label) : read.label };
}
