/**
 * How a token stream becomes scored examples, one function per protocol. Every example uses
 * the loss graph's label convention (labels[t] is the target of position t, -100 = not scored).
 *
 * Protocols:
 * - "sliding-window" (decoder): windows of seqLen starting every `stride` tokens; each window
 *   scores only the tokens no earlier window scored, so every token after the first is scored
 *   exactly once, each with up to seqLen - stride tokens of context (Hugging Face, "Perplexity
 *   of fixed-length models"). With stride == seqLen, as in HF's loop, the first token of each
 *   window after the first has no context and is not scored.
 * - "paper-nonoverlap" (decoder): floor(N / seqLen) non-overlapping windows, the tail dropped,
 *   every position of a window scored (SparseGPT/Wanda `eval_ppl`; the text is
 *   "\n\n".join(rows)).
 * - "masked-lm" (encoder): [CLS] + seqLen-2 tokens + [SEP] blocks, tail dropped (run_mlm's
 *   group_texts); 15% of non-special tokens chosen with a seeded generator, of which 80% become
 *   [MASK], 10% a random token, 10% stay (DataCollatorForLanguageModeling); exp(mean NLL) over
 *   the chosen tokens.
 * - "pseudo-ppl" (encoder): each token of each block masked in turn and scored, up to a token
 *   budget (Salazar et al. 2020, "Masked Language Model Scoring").
 * - "seq2seq-chunk" (encoder-decoder): the text cut into seqLen-token chunks (tail dropped);
 *   for each chunk k >= 1 the encoder reads chunk k-1 (its last seqLen-1 tokens + eos) and the decoder is teacher-forced
 *   on chunk k (decoder input = [decoderStart] + chunk k without its last token), scoring every
 *   token of chunk k. This is next-chunk prediction given the previous chunk as context, the
 *   nearest thing to a decoder's sliding window that an encoder-decoder can do.
 * - "seq2seq-denoise" (encoder-decoder): the encoder reads chunk k with 15% of its tokens
 *   replaced by the mask token, or deleted where the vocabulary has none (seeded), and the
 *   decoder reconstructs chunk k (BART-style denoising), scoring every token.
 */
import { IGNORE_INDEX } from "./loss-graph.ts";
import { seededRandom } from "../util/random.ts";
import type { LoadedTokenizer } from "./tokenizer.ts";
import { UserError } from "../errors.ts";

export type Protocol = "sliding-window" | "paper-nonoverlap" | "masked-lm" | "pseudo-ppl" | "seq2seq-chunk" | "seq2seq-denoise";

export interface Example {
  /** Decoder input for decoders and encoder-decoders, encoder input for encoders. */
  inputIds: Int32Array;
  labels: Int32Array;
  /** Encoder input of an encoder-decoder. */
  encoderIds?: Int32Array;
}

export interface Plan {
  protocol: Protocol;
  count: number;
  example(i: number): Example;
  /** Labels != -100 over all examples. */
  scoredTokens: number;
  /** Tokens of the stream the scored examples stand for (used to scale word and byte measures). */
  coveredTokens: number;
}

export class EvalInputError extends UserError {}

function tooShort(n: number, needed: number, what: string): never {
  throw new EvalInputError(`the text has ${n} tokens, shorter than ${what} (${needed} tokens); use a longer text or a smaller --seq-len`);
}

function planFrom(protocol: Protocol, examples: Example[], coveredTokens: number): Plan {
  let scored = 0;
  for (const e of examples) for (const l of e.labels) if (l !== IGNORE_INDEX) scored++;
  return { protocol, count: examples.length, example: (i) => examples[i]!, scoredTokens: scored, coveredTokens };
}

export interface SlidingOptions {
  seqLen: number;
  stride?: number;
}

export function slidingWindow(ids: Int32Array, options: SlidingOptions): Plan {
  const L = options.seqLen;
  const stride = options.stride ?? L;
  if (stride < 1 || stride > L) throw new EvalInputError(`stride ${stride} must be between 1 and seq_len ${L}`);
  const N = ids.length;
  if (N < L) tooShort(N, L, "one window");
  const examples: Example[] = [];
  let prevEnd = 0;
  for (let begin = 0; begin < N; begin += stride) {
    const end = Math.min(begin + L, N);
    const inputIds = ids.slice(begin, end);
    const labels = new Int32Array(end - begin).fill(IGNORE_INDEX);
    for (let t = 0; t + 1 < end - begin; t++) if (begin + t + 1 >= prevEnd) labels[t] = ids[begin + t + 1]!;
    examples.push({ inputIds, labels });
    prevEnd = end;
    if (end === N) break;
  }
  return planFrom("sliding-window", examples, N);
}

export function paperNonOverlap(ids: Int32Array, options: { seqLen: number }): Plan {
  const L = options.seqLen;
  const n = Math.floor(ids.length / L);
  if (n === 0) tooShort(ids.length, L, "one window");
  const examples: Example[] = [];
  for (let k = 0; k < n; k++) {
    const inputIds = ids.slice(k * L, (k + 1) * L);
    const labels = new Int32Array(L).fill(IGNORE_INDEX);
    for (let t = 0; t + 1 < L; t++) labels[t] = inputIds[t + 1]!;
    examples.push({ inputIds, labels });
  }
  return planFrom("paper-nonoverlap", examples, n * L);
}

/** [CLS] + content + [SEP] blocks of seqLen (tail dropped); markers omitted when the tokenizer has none. */
function encoderBlocks(ids: Int32Array, seqLen: number, tokenizer: LoadedTokenizer): { blocks: Int32Array[]; content: number; first: number } {
  const { cls, sep } = tokenizer.specials;
  const first = cls === undefined ? 0 : 1;
  const content = seqLen - first - (sep === undefined ? 0 : 1);
  if (content < 1) throw new EvalInputError(`seq_len ${seqLen} leaves no room for text between [CLS] and [SEP]`);
  const n = Math.floor(ids.length / content);
  if (n === 0) tooShort(ids.length, content, "one block");
  const blocks: Int32Array[] = [];
  for (let k = 0; k < n; k++) {
    const block = new Int32Array(seqLen);
    if (cls !== undefined) block[0] = cls;
    block.set(ids.subarray(k * content, (k + 1) * content), first);
    if (sep !== undefined) block[seqLen - 1] = sep;
    blocks.push(block);
  }
  return { blocks, content, first };
}

function maskId(tokenizer: LoadedTokenizer): number {
  const id = tokenizer.specials.mask;
  if (id === undefined) throw new EvalInputError(`tokenizer ${tokenizer.file} has no mask token ([MASK] or <mask>), which masked-LM evaluation needs`);
  return id;
}

export interface MaskingOptions {
  seqLen: number;
  seed?: number;
  /** Share of tokens chosen (default 0.15). */
  probability?: number;
}

export function maskedLm(ids: Int32Array, tokenizer: LoadedTokenizer, options: MaskingOptions): Plan {
  const mask = maskId(tokenizer);
  const { blocks, content } = encoderBlocks(ids, options.seqLen, tokenizer);
  const random = seededRandom(options.seed ?? 0);
  const p = options.probability ?? 0.15;
  const examples = blocks.map((block) => {
    const inputIds = block.slice();
    const labels = new Int32Array(block.length).fill(IGNORE_INDEX);
    for (let t = 0; t < block.length; t++) {
      if (tokenizer.specialIds.has(block[t]!) || random() >= p) continue;
      labels[t] = block[t]!;
      const r = random();
      if (r < 0.8) inputIds[t] = mask;
      else if (r < 0.9) inputIds[t] = Math.floor(random() * tokenizer.vocabSize);
    }
    return { inputIds, labels };
  });
  return planFrom("masked-lm", examples, blocks.length * content);
}

export function pseudoPerplexity(ids: Int32Array, tokenizer: LoadedTokenizer, options: { seqLen: number; tokenBudget?: number }): Plan {
  const mask = maskId(tokenizer);
  const { blocks, content, first } = encoderBlocks(ids, options.seqLen, tokenizer);
  const budget = Math.min(options.tokenBudget ?? 4096, blocks.length * content);
  const example = (i: number): Example => {
    const block = blocks[Math.floor(i / content)]!;
    const t = first + (i % content);
    const inputIds = block.slice();
    inputIds[t] = mask;
    const labels = new Int32Array(block.length).fill(IGNORE_INDEX);
    labels[t] = block[t]!;
    return { inputIds, labels };
  };
  return { protocol: "pseudo-ppl", count: budget, example, scoredTokens: budget, coveredTokens: budget };
}

export interface Seq2SeqOptions {
  seqLen: number;
  /** First decoder input (Pegasus and T5: pad; BART: eos). Defaults to pad, then eos, then 0. */
  decoderStart?: number;
  denoise?: boolean;
  seed?: number;
}

export function seq2seq(ids: Int32Array, tokenizer: LoadedTokenizer, options: Seq2SeqOptions): Plan {
  const L = options.seqLen;
  const n = Math.floor(ids.length / L);
  const denoise = options.denoise ?? false;
  if (n < (denoise ? 1 : 2)) tooShort(ids.length, (denoise ? 1 : 2) * L, denoise ? "one chunk" : "two chunks (context and target)");
  const start = options.decoderStart ?? tokenizer.specials.pad ?? tokenizer.specials.eos ?? 0;
  const eos = tokenizer.specials.eos;
  const random = seededRandom(options.seed ?? 0);
  const mask = tokenizer.specials.mask;
  // The encoder reads seqLen tokens too (its last one eos, as Pegasus and BART encode), so
  // models with seqLen positions are never asked for more.
  const withEos = (chunk: Int32Array) => {
    const out = chunk.slice();
    if (eos !== undefined) {
      out.copyWithin(0, 1);
      out[L - 1] = eos;
    }
    return out;
  };
  const examples: Example[] = [];
  for (let k = denoise ? 0 : 1; k < n; k++) {
    const target = ids.slice(k * L, (k + 1) * L);
    const inputIds = new Int32Array(L);
    inputIds[0] = start;
    inputIds.set(target.subarray(0, L - 1), 1);
    let encoder: Int32Array;
    if (denoise) {
      // Token masking where the vocabulary has a mask token, token deletion where it has none
      // (both are BART's noising functions, Lewis et al. 2020, section 2.2).
      const kept: number[] = [];
      for (const id of withEos(target)) {
        if (random() >= 0.15) kept.push(id);
        else if (mask !== undefined) kept.push(mask);
      }
      encoder = Int32Array.from(kept);
    } else encoder = withEos(ids.slice((k - 1) * L, k * L));
    examples.push({ inputIds, labels: target, encoderIds: encoder });
  }
  return planFrom(denoise ? "seq2seq-denoise" : "seq2seq-chunk", examples, examples.length * L);
}
