/** Text measures that let perplexities from different tokenizers be compared. */

/** Whitespace-separated words, as lm-evaluation-harness counts them for word perplexity. */
export function countWords(text: string): number {
  return text.match(/\S+/g)?.length ?? 0;
}

export function countBytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/**
 * The text as Hugging Face scripts build it from WikiText rows: `"\n\n".join(dataset["text"])`,
 * where each row is one line of the original file with its "\n", and the blank lines (" \n" in
 * the file) are empty rows. The SparseGPT and Wanda evaluation code (and the HF perplexity
 * guide) tokenize exactly this string: 287,644 GPT-2 tokens for the WikiText-2 test split.
 */
export function joinHfRows(text: string): string {
  const rows = (text.match(/[^\n]*\n|[^\n]+$/g) ?? []).map((row) => (row.trim() === "" ? "" : row));
  return rows.join("\n\n");
}

/**
 * The first ~`maxTokens` tokens of a text of `tokenCount` tokens, cut at a space (eval's
 * `max_tokens`, `prunebench eval --max-tokens`), and its label saying so; the text as it is
 * when it is no longer.
 */
export function firstTokens(text: string, label: string, tokenCount: number, maxTokens: number): { text: string; label: string } {
  if (tokenCount <= maxTokens) return { text, label };
  const approx = Math.floor((text.length * maxTokens) / tokenCount);
  const cut = text.lastIndexOf(" ", approx);
  return { text: text.slice(0, cut > approx / 2 ? cut + 1 : approx), label: `${label} (first ~${maxTokens} tokens)` };
}
