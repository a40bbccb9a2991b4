import type { LoadedTokenizer } from "../../src/eval/tokenizer.ts";

/** UTF-8 bytes as token ids: inside every test model's vocabulary (256 and up). */
export const bytesTokenizer: LoadedTokenizer = {
  file: "<bytes>",
  kind: "other",
  vocabSize: 256,
  specials: {},
  specialIds: new Set(),
  hash: "bytes-v1",
  encode: (text) => [...Buffer.from(text, "utf8")],
  decode: (ids) => Buffer.from(ids).toString("utf8"),
  tokenToId: () => undefined,
};

/** A short English text for calibration, evaluation and fine-tuning in tests. */
export const TEXT = "Pruning a transformer: how much of it can go, and what does that cost in perplexity and latency? ".repeat(12);

export const TEXT_TOKENS = Int32Array.from(bytesTokenizer.encode(TEXT));

/** Every mask method at 50% (N:M at 2:4), calibrated ones on three 24-token windows of TEXT. */
export const MASK_METHODS = (() => {
  const calibration = { tokens: TEXT_TOKENS, samples: 3, seqLen: 24, seed: 0, family: "decoder" as const };
  return [
    { method: "magnitude", sparsity: 0.5 },
    { method: "global", sparsity: 0.5 },
    { method: "nm", options: { pattern: "2:4" } },
    { method: "wanda", sparsity: 0.5, calibration },
    { method: "sparsegpt", sparsity: 0.5, calibration },
    { method: "owl", sparsity: 0.5, calibration },
  ] as const;
})();
