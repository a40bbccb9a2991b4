/**
 * The text of an evaluation split. A reference is a text file, a folder holding a known split
 * file (wiki.test.raw, test.txt...), or anything src/data's resolveCorpus accepts
 * ("bundled/test", "wikitext-2-raw/test", "<folder>:<split>").
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { defaultCacheDir, resolveCorpus } from "../data/index.ts";
import { EvalInputError } from "./protocols.ts";

const SPLIT_FILES = ["wiki.test.raw", "test.txt", "test.raw", "wiki.valid.raw", "valid.txt"];

export interface DatasetText {
  /** The file read, or the corpus label ("wikitext-2-raw/test"): names the data in results. */
  label: string;
  text: string;
}

export async function readDatasetText(ref: string, options: { cacheDir?: string } = {}): Promise<DatasetText> {
  let file = path.resolve(ref);
  if (!existsSync(file)) {
    if (/^[\w.-]+\/\w+$|:\w+$/.test(ref)) {
      const resolved = await resolveCorpus(ref, { cacheDir: options.cacheDir ?? defaultCacheDir() });
      return { label: resolved.label, text: resolved.corpus.split(resolved.split) };
    }
    throw new EvalInputError(`dataset ${ref}: not found (give a text file, a folder holding ${SPLIT_FILES.join(", ")}, or bundled/<split>, wikitext-2-raw/<split>, <folder>:<split>)`);
  }
  if (statSync(file).isDirectory()) {
    const found = SPLIT_FILES.map((n) => path.join(file, n)).find((p) => existsSync(p));
    if (!found) throw new EvalInputError(`dataset ${ref}: the folder holds none of ${SPLIT_FILES.join(", ")}`);
    file = found;
  }
  const text = readFileSync(file, "utf8");
  if (!text.trim()) throw new EvalInputError(`dataset ${file}: the file is empty`);
  return { label: file, text };
}
