/**
 * Runs a plan's examples through a loss-graph session and turns the per-token NLL into token
 * perplexity, word perplexity and bits per byte.
 */
import type * as ort from "onnxruntime-node";
import type { Family } from "../models/types.ts";
import type { Perplexity } from "../results/schema.ts";
import { feedBuilder } from "./feeds.ts";
import { IGNORE_INDEX } from "./loss-graph.ts";
import type { Example, Plan } from "./protocols.ts";

export interface PerplexityProgress {
  done: number;
  total: number;
  tokens: number;
  /** Running token perplexity. */
  perplexity: number;
}

export interface TextMeasures {
  /** Tokens, words and UTF-8 bytes of the whole tokenized text. */
  tokens: number;
  words: number;
  bytes: number;
}

export interface RunPlanOptions {
  session: ort.InferenceSession;
  family: Family;
  plan: Plan;
  labels?: string;
  nll?: string;
  batchSize?: number;
  text: TextMeasures;
  dataset: string;
  seqLen: number;
  stride?: number;
  /** Checked between batches: SIGINT or a time limit ends the run with `partial: true`. */
  shouldStop?: () => boolean;
  onProgress?: (progress: PerplexityProgress) => void;
  now?: () => number;
}

export interface PerplexityRun {
  perplexity: Perplexity;
  /** Milliseconds inside session.run, and of the whole loop: their difference is our overhead. */
  runMs: number;
  wallMs: number;
  batches: number;
}

/** Consecutive examples of equal shapes, at most `size` per batch. */
export function* batches(plan: Plan, size: number): Generator<{ start: number; examples: Example[] }> {
  let current: Example[] = [];
  let start = 0;
  for (let i = 0; i < plan.count; i++) {
    const e = plan.example(i);
    const head = current[0];
    if (head && (current.length === size || head.inputIds.length !== e.inputIds.length || head.encoderIds?.length !== e.encoderIds?.length)) {
      yield { start, examples: current };
      current = [];
      start = i;
    }
    current.push(e);
  }
  if (current.length) yield { start, examples: current };
}

export async function runPlan(options: RunPlanOptions): Promise<PerplexityRun> {
  const now = options.now ?? (() => performance.now());
  const labels = options.labels ?? "labels";
  const nllName = options.nll ?? "nll";
  const build = feedBuilder(options.session, options.family, labels);
  const { plan } = options;
  const started = now();
  let runMs = 0;
  let sum = 0;
  let tokens = 0;
  let done = 0;
  let count = 0;
  let partial = false;
  for (const batch of batches(plan, Math.max(1, options.batchSize ?? 1))) {
    if (options.shouldStop?.()) {
      partial = true;
      break;
    }
    const feeds = build(batch.examples);
    const t0 = now();
    const out = await options.session.run(feeds, [nllName]);
    runMs += now() - t0;
    const nll = out[nllName]!.data as Float32Array;
    let offset = 0;
    for (const e of batch.examples) {
      for (let t = 0; t < e.labels.length; t++) {
        if (e.labels[t] !== IGNORE_INDEX) {
          sum += nll[offset + t]!;
          tokens++;
        }
      }
      offset += e.labels.length;
    }
    for (const tensor of Object.values(out)) tensor.dispose();
    done += batch.examples.length;
    count++;
    options.onProgress?.({ done, total: plan.count, tokens, perplexity: Math.exp(sum / Math.max(tokens, 1)) });
  }
  const wallMs = now() - started;
  if (tokens === 0) throw new Error(partial ? "stopped before any token was scored" : "no token was scored (is the text long enough for this protocol?)");
  const mean = sum / tokens;
  // Word and byte measures scale the mean NLL to the text the scored tokens stand for
  // (all of it for sliding windows; the masked share's blocks for masked LM), so they compare
  // across tokenizers as lm-evaluation-harness's word_perplexity and bits_per_byte do.
  const covered = partial ? (plan.coveredTokens * tokens) / plan.scoredTokens : plan.coveredTokens;
  const share = Math.min(1, covered / options.text.tokens);
  const words = Math.max(1, Math.round(options.text.words * share));
  const bytes = Math.max(1, Math.round(options.text.bytes * share));
  const totalNll = mean * covered;
  return {
    perplexity: {
      dataset: options.dataset,
      protocol: plan.protocol,
      seqLen: options.seqLen,
      ...(plan.protocol === "sliding-window" && options.stride ? { stride: options.stride } : {}),
      token: Math.exp(mean),
      word: Math.exp(totalNll / words),
      bitsPerByte: totalNll / (bytes * Math.LN2),
      nll: mean,
      tokens,
      words,
      bytes,
      partial,
      seconds: wallMs / 1000,
    },
    runMs,
    wallMs,
    batches: count,
  };
}
