/**
 * Training examples from a token stream, one layout per family:
 * - decoder (causal LM): input_ids = w[0..S), labels = w[1..S], every position scored;
 * - encoder (masked LM, BERT's recipe): 15% of positions chosen, of those 80% become the mask
 *   token, 10% a random token, 10% stay; only chosen positions are scored;
 * - encoder-decoder: the encoder reads w[0..S), the decoder continues the text: decoder_input_ids
 *   = [start] + w[S..2S-1), labels = w[S..2S).
 */
import type { Family } from "../models/types.ts";
import { IGNORE_INDEX } from "../eval/loss-graph.ts";
import type { Rng } from "./rng.ts";

export interface Example {
  input_ids: number[];
  labels: number[];
  decoder_input_ids?: number[];
}

export interface BatchOptions {
  family: Family;
  seqLen: number;
  vocab: number;
  maskToken?: number;
  maskProbability?: number;
  decoderStart?: number;
}

/** Tokens each example consumes from the stream. */
export function windowLength(o: BatchOptions): number {
  return o.family === "decoder" ? o.seqLen + 1 : o.family === "encoder" ? o.seqLen : 2 * o.seqLen;
}

export function makeExample(window: ArrayLike<number>, o: BatchOptions, rng: Rng): Example {
  const S = o.seqLen;
  const w = Array.from(window);
  if (o.family === "decoder") return { input_ids: w.slice(0, S), labels: w.slice(1, S + 1) };
  if (o.family === "encoder-decoder") {
    const target = w.slice(S, 2 * S);
    return { input_ids: w.slice(0, S), decoder_input_ids: [o.decoderStart ?? 0, ...target.slice(0, S - 1)], labels: target };
  }
  const p = o.maskProbability ?? 0.15;
  const mask = o.maskToken ?? o.vocab - 1;
  const input = w.slice(0, S);
  const labels = input.map(() => IGNORE_INDEX);
  for (let i = 0; i < S; i++) {
    if (rng.next() >= p) continue;
    labels[i] = input[i];
    const r = rng.next();
    if (r < 0.8) input[i] = mask;
    else if (r < 0.9) input[i] = rng.int(o.vocab);
  }
  // A batch with nothing to predict would divide by zero; score one position at least.
  if (labels.every((l) => l === IGNORE_INDEX)) {
    const i = rng.int(S);
    labels[i] = input[i];
    input[i] = mask;
  }
  return { input_ids: input, labels };
}

/** A random batch from the stream (random window offsets). */
export function randomBatch(tokens: ArrayLike<number>, batch: number, o: BatchOptions, rng: Rng): Example[] {
  const len = windowLength(o);
  if (tokens.length < len) throw new Error(`the corpus has ${tokens.length} tokens; one ${o.family} example of seq_len ${o.seqLen} needs ${len}`);
  return Array.from({ length: batch }, () => {
    const start = rng.int(tokens.length - len + 1);
    return makeExample(slice(tokens, start, start + len), o, rng);
  });
}

/** Consecutive non-overlapping batches from the start of the stream, for validation. */
export function sequentialBatches(tokens: ArrayLike<number>, batch: number, count: number, o: BatchOptions, rng: Rng): Example[][] {
  const len = windowLength(o);
  const out: Example[][] = [];
  let at = 0;
  for (let b = 0; b < count; b++) {
    const examples: Example[] = [];
    for (let i = 0; i < batch; i++) {
      if (at + len > tokens.length) break;
      examples.push(makeExample(slice(tokens, at, at + len), o, rng));
      at += len;
    }
    if (examples.length < batch) break;
    out.push(examples);
  }
  if (out.length === 0) throw new Error(`the validation corpus has ${tokens.length} tokens; one batch of ${batch} x ${len} is needed`);
  return out;
}

function slice(tokens: ArrayLike<number>, a: number, b: number): number[] {
  const out: number[] = [];
  for (let i = a; i < b; i++) out.push(tokens[i]);
  return out;
}
