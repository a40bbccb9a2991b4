import { existsSync, readFileSync, statSync } from "node:fs";
import { resolveCorpus } from "../data/index.ts";
import { tokenizeCached } from "../eval/token-cache.ts";
import { loadTokenizer } from "../eval/tokenizer.ts";

/**
 * Token ids of a dataset given on the command line: a text file, or a corpus reference
 * (bundled/train, wikitext-2-raw/train, <folder>:train). `tokenizer` is a tokenizer file or
 * folder, or "bytes": UTF-8 bytes as ids, the vocabulary of prunebench's byte-level demo models.
 */
export async function datasetTokens(ref: string, tokenizer: string, cacheDir: string): Promise<{ tokens: ArrayLike<number>; label: string }> {
  let text: string;
  let label = ref;
  if (existsSync(ref) && statSync(ref).isFile()) text = readFileSync(ref, "utf8");
  else {
    const resolved = await resolveCorpus(ref, { cacheDir });
    text = resolved.corpus.split(resolved.split);
    label = resolved.label;
  }
  if (tokenizer === "bytes") return { tokens: Uint8Array.from(Buffer.from(text, "utf8")), label };
  return { tokens: tokenizeCached(loadTokenizer(tokenizer), text, { cacheDir }), label };
}
