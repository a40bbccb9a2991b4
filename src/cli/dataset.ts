import { readDataset } from "../data/index.ts";
import { tokenizeCached } from "../eval/token-cache.ts";
import { loadTokenizer } from "../eval/tokenizer.ts";

/**
 * Token ids of a dataset given on the command line (anything readDataset takes, as a config
 * does). `tokenizer` is a tokenizer file or folder, or "bytes": UTF-8 bytes as ids, the
 * vocabulary of prunebench's byte-level demo models.
 */
export async function datasetTokens(ref: string, tokenizer: string, cacheDir: string): Promise<{ tokens: ArrayLike<number>; label: string }> {
  const { text, label } = await readDataset(ref, { cacheDir });
  if (tokenizer === "bytes") return { tokens: Uint8Array.from(Buffer.from(text, "utf8")), label };
  return { tokens: tokenizeCached(loadTokenizer(tokenizer), text, { cacheDir }), label };
}
