/**
 * One perplexity evaluation from files or loaded pieces: tokenize (cached), plan the protocol,
 * check the vocabularies agree, add the loss graph, run. Runs in the calling thread; see
 * worker-client.ts for the version that keeps the event loop free.
 */
import type { Family } from "../models/types.ts";
import { mapModel } from "../models/index.ts";
import type { OnnxModel } from "../onnx/model.ts";
import { addLossGraph, modelInputs } from "./loss-graph.ts";
import { runPlan, type PerplexityProgress, type PerplexityRun } from "./perplexity.ts";
import { EvalInputError, maskedLm, paperNonOverlap, pseudoPerplexity, seq2seq, slidingWindow, type Plan, type Protocol } from "./protocols.ts";
import { createSession, type Provider } from "./session.ts";
import { countBytes, countWords, joinHfRows } from "./text.ts";
import { tokenizeCached } from "./token-cache.ts";
import type { LoadedTokenizer } from "./tokenizer.ts";

export interface PerplexityOptions {
  family?: Family;
  /** Defaults by family: sliding-window, masked-lm, seq2seq-chunk. */
  protocol?: Protocol;
  seqLen: number;
  stride?: number;
  batchSize?: number;
  seed?: number;
  /** pseudo-ppl: tokens scored at most. */
  tokenBudget?: number;
  decoderStart?: number;
  /** Decoder protocols tokenize "\n\n".join(rows) as the HF guide and the SparseGPT/Wanda code do (default true). */
  joinRows?: boolean;
  provider?: Provider;
  threads?: number;
  cacheDir?: string | null;
  shouldStop?: () => boolean;
  onProgress?: (progress: PerplexityProgress) => void;
}

export interface PerplexityEvaluation extends PerplexityRun {
  family: Family;
  provider: Provider;
  sessionMs: number;
  tokenizeMs: number;
  warnings: string[];
}

const DEFAULT_PROTOCOL: Record<Family, Protocol> = { decoder: "sliding-window", encoder: "masked-lm", "encoder-decoder": "seq2seq-chunk" };
export const PROTOCOL_FAMILY: Record<Protocol, Family> = {
  "sliding-window": "decoder",
  "paper-nonoverlap": "decoder",
  "masked-lm": "encoder",
  "pseudo-ppl": "encoder",
  "seq2seq-chunk": "encoder-decoder",
  "seq2seq-denoise": "encoder-decoder",
};

/** The family from the model map, or from its inputs when the map cannot tell. */
export function detectFamily(model: OnnxModel): Family {
  try {
    return mapModel(model).family;
  } catch {
    const inputs = modelInputs(model);
    if (inputs.includes("decoder_input_ids")) return "encoder-decoder";
    if (inputs.includes("token_type_ids")) return "encoder";
    return "decoder";
  }
}

export function planFor(ids: Int32Array, tokenizer: LoadedTokenizer, protocol: Protocol, options: PerplexityOptions): Plan {
  switch (protocol) {
    case "sliding-window":
      return slidingWindow(ids, { seqLen: options.seqLen, stride: options.stride });
    case "paper-nonoverlap":
      return paperNonOverlap(ids, { seqLen: options.seqLen });
    case "masked-lm":
      return maskedLm(ids, tokenizer, { seqLen: options.seqLen, seed: options.seed });
    case "pseudo-ppl":
      return pseudoPerplexity(ids, tokenizer, { seqLen: options.seqLen, tokenBudget: options.tokenBudget });
    case "seq2seq-chunk":
    case "seq2seq-denoise":
      return seq2seq(ids, tokenizer, { seqLen: options.seqLen, decoderStart: options.decoderStart, denoise: protocol === "seq2seq-denoise", seed: options.seed });
  }
}

/** Refuses token ids the model's embedding cannot hold (they would fail deep inside Gather). */
export function checkVocabulary(ids: Int32Array, tokenizer: LoadedTokenizer, modelVocab: number | null, modelFile: string): string[] {
  if (modelVocab === null) return [`${modelFile}: the logits' vocabulary size is not static; token ids are not checked against it`];
  let max = -1;
  for (const id of ids) if (id > max) max = id;
  for (const id of Object.values(tokenizer.specials)) if (id !== undefined && id > max) max = id;
  if (max >= modelVocab) {
    throw new EvalInputError(
      `tokenizer ${tokenizer.file} (vocabulary ${tokenizer.vocabSize}) produces id ${max}, but model ${modelFile} has a vocabulary of ${modelVocab}: they do not belong together`,
    );
  }
  return tokenizer.vocabSize !== modelVocab ? [`tokenizer vocabulary ${tokenizer.vocabSize} differs from the model's ${modelVocab} (padded embedding?)`] : [];
}

export async function evaluatePerplexity(model: OnnxModel, tokenizer: LoadedTokenizer, text: string, dataset: string, options: PerplexityOptions): Promise<PerplexityEvaluation> {
  const family = options.family ?? (options.protocol ? PROTOCOL_FAMILY[options.protocol] : detectFamily(model));
  const protocol = options.protocol ?? DEFAULT_PROTOCOL[family];
  if (PROTOCOL_FAMILY[protocol] !== family) throw new EvalInputError(`protocol ${protocol} is for ${PROTOCOL_FAMILY[protocol]} models, not ${family}`);
  const source = family === "decoder" && (options.joinRows ?? true) ? joinHfRows(text) : text;
  const t0 = performance.now();
  const ids = tokenizeCached(tokenizer, source, { cacheDir: options.cacheDir });
  const tokenizeMs = performance.now() - t0;
  const plan = planFor(ids, tokenizer, protocol, options);
  const loss = addLossGraph(model, { family });
  const warnings = checkVocabulary(ids, tokenizer, loss.vocab, model.file);
  const created = await createSession(loss.model, { provider: options.provider, threads: options.threads });
  if (created.warning) warnings.push(created.warning);
  try {
    const run = await runPlan({
      session: created.session,
      family,
      plan,
      labels: loss.labels,
      nll: loss.nll,
      batchSize: options.batchSize,
      text: { tokens: ids.length, words: countWords(source), bytes: countBytes(source) },
      dataset,
      seqLen: options.seqLen,
      stride: options.stride ?? options.seqLen,
      shouldStop: options.shouldStop,
      onProgress: options.onProgress,
    });
    return { ...run, family, provider: created.provider, sessionMs: created.createMs, tokenizeMs, warnings };
  } finally {
    await created.session.release();
  }
}
