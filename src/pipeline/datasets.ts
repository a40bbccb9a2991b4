import { existsSync } from "node:fs";
import path from "node:path";
import { readDataset } from "../data/resolve.ts";
import { sha256Hex } from "../data/corpus.ts";
import { tokenizeCached } from "../eval/token-cache.ts";
import { loadTokenizer } from "../eval/tokenizer.ts";
import { firstTokens } from "../eval/text.ts";
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
  const { text, label } = maxTokens === undefined ? read : firstTokens(read.text, read.label, tokenizeCached(loadTokenizer(ctx.tokenizerFile), read.text, { cacheDir: ctx.cacheDir }).length, maxTokens);
  const file = path.join(ctx.dataDir, `${sha256Hex(text).slice(0, 24)}.txt`);
  if (!existsSync(file)) writeFileAtomic(file, text);
  return { file, label, text };
}

/** A config's dataset reference, read as readDataset reads any; a file is named relative to the config. */
async function readRef(ctx: RunContext, ref: string): Promise<{ text: string; label: string }> {
  const read = await readDataset(ref, { configDir: ctx.loaded.dir, cacheDir: ctx.cacheDir });
  return { text: read.text, label: path.isAbsolute(read.label) ? path.relative(ctx.loaded.dir, read.label) : read.label };
}
