/**
 * One `prunebench eval` job from file paths: perplexity and/or latency, with the runner's
 * fingerprint. Plain data in, plain data out, so it can run in a worker thread.
 */
import type { z } from "zod";
import { DEFAULT_SEQ_LEN, LatencyEvalSchema, PerplexityEvalSchema } from "../config/schema.ts";
import type { Family } from "../models/types.ts";
import { checkFiniteWeights } from "../onnx/finite.ts";
import { readModel } from "../onnx/model.ts";
import type { Latency, Perplexity, Runner } from "../results/schema.ts";
import { defaultCacheDir, readDataset } from "../data/index.ts";
import { detectFamily, evaluatePerplexity } from "./evaluate.ts";
import { measureLatency } from "./latency.ts";
import { logitsVocab, findLogitsOutput } from "./loss-graph.ts";
import type { Protocol } from "./protocols.ts";
import { runnerFingerprint } from "./runner.ts";
import { createSession, type Provider } from "./session.ts";
import { firstTokens } from "./text.ts";
import { tokenizeCached } from "./token-cache.ts";
import { loadTokenizer } from "./tokenizer.ts";

export interface EvalJob {
  model: string;
  family?: Family;
  perplexity?: {
    tokenizer: string;
    dataset: string;
    /** Name recorded in the result; defaults to the dataset path. */
    datasetName?: string;
    protocol?: Protocol;
    seqLen: number;
    stride?: number;
    /** Evaluate the first ~this many tokens of the text (cut at a space). */
    maxTokens?: number;
    batchSize?: number;
    seed?: number;
    tokenBudget?: number;
    decoderStart?: number;
    joinRows?: boolean;
    cacheDir?: string | null;
  };
  latency?: {
    batch: number[];
    seqLen: number[];
    warmup?: number;
    budgetMs?: number;
    targetPrecision?: number;
    minRuns?: number;
    maxRuns?: number;
  };
  provider?: Provider;
  threads?: number;
}

/** A config's eval.perplexity keys, and what only the command line sets. */
export type PerplexityInput = z.input<typeof PerplexityEvalSchema> &
  Pick<NonNullable<EvalJob["perplexity"]>, "tokenizer" | "datasetName" | "batchSize" | "tokenBudget" | "decoderStart" | "joinRows" | "cacheDir">;
/** A config's eval.latency keys but the job-wide ones (providers, threads), and what only the command line sets. */
export type LatencyInput = Omit<z.input<typeof LatencyEvalSchema>, "providers" | "threads"> & Pick<NonNullable<EvalJob["latency"]>, "targetPrecision">;

/**
 * The one way to an EvalJob, from a config's eval section (the pipeline's evaluate stage) or
 * from `prunebench eval`'s flags: what is left out is the config schema's default. A seq_len
 * left out is DEFAULT_SEQ_LEN.eval, which the caller cuts to the model's positions (the
 * preflight, fitJobToModel).
 */
export function evalJob(input: Pick<EvalJob, "model" | "family" | "provider" | "threads"> & { perplexity?: PerplexityInput; latency?: LatencyInput }): EvalJob {
  const job: EvalJob = { model: input.model, family: input.family, provider: input.provider, threads: input.threads };
  if (input.perplexity) {
    const { tokenizer, datasetName, batchSize, tokenBudget, decoderStart, joinRows, cacheDir, ...keys } = input.perplexity;
    const p = PerplexityEvalSchema.parse(keys);
    job.perplexity = { tokenizer, dataset: p.dataset, datasetName, protocol: p.protocol, seqLen: p.seq_len ?? DEFAULT_SEQ_LEN.eval, stride: p.stride, maxTokens: p.max_tokens, seed: p.seed, batchSize, tokenBudget, decoderStart, joinRows, cacheDir };
  }
  if (input.latency) {
    const { targetPrecision, ...keys } = input.latency;
    const l = LatencyEvalSchema.parse(keys);
    job.latency = { batch: l.batch, seqLen: l.seq_len, warmup: l.warmup, budgetMs: l.budget_ms, targetPrecision };
  }
  return job;
}

export interface EvalProgress {
  stage: "perplexity" | "latency";
  done: number;
  total: number;
  detail?: string;
}

export interface EvalOutcome {
  model: string;
  family: Family;
  runner: Runner;
  perplexity?: Perplexity;
  latency: Latency[];
  partial: boolean;
  timings: Record<string, number>;
  /** Share of perplexity wall time spent outside session.run. */
  overheadShare?: number;
  warnings: string[];
}

export async function runEvalJob(job: EvalJob, hooks: { shouldStop?: () => boolean; onProgress?: (p: EvalProgress) => void } = {}): Promise<EvalOutcome> {
  const model = readModel(job.model);
  checkFiniteWeights(model);
  const family = job.family ?? detectFamily(model);
  let provider: Provider = job.provider ?? "cpu";
  const warnings: string[] = [];
  const timings: Record<string, number> = {};
  const outcome: Omit<EvalOutcome, "runner"> = { model: job.model, family, latency: [], partial: false, timings, warnings };

  if (job.perplexity) {
    const p = job.perplexity;
    const tokenizer = loadTokenizer(p.tokenizer);
    const read = await readDataset(p.dataset, { cacheDir: p.cacheDir ?? defaultCacheDir() });
    const { label, text } = p.maxTokens === undefined ? read : firstTokens(read.text, read.label, tokenizeCached(tokenizer, read.text, { cacheDir: p.cacheDir }).length, p.maxTokens);
    const result = await evaluatePerplexity(model, tokenizer, text, p.datasetName ?? label, {
      ...p,
      family,
      provider,
      threads: job.threads,
      shouldStop: hooks.shouldStop,
      onProgress: (pr) => hooks.onProgress?.({ stage: "perplexity", done: pr.done, total: pr.total, detail: `ppl ${pr.perplexity.toFixed(2)} over ${pr.tokens} tokens` }),
    });
    provider = result.provider;
    warnings.push(...result.warnings);
    outcome.perplexity = result.perplexity;
    outcome.partial ||= result.perplexity.partial;
    outcome.overheadShare = result.wallMs > 0 ? 1 - result.runMs / result.wallMs : 0;
    Object.assign(timings, { tokenize: result.tokenizeMs / 1000, perplexitySession: result.sessionMs / 1000, perplexity: result.wallMs / 1000 });
  }

  if (job.latency && !outcome.partial) {
    const created = await createSession(model, { provider: job.provider, threads: job.threads });
    if (created.warning && !warnings.includes(created.warning)) warnings.push(created.warning);
    provider = created.provider;
    timings.latencySession = created.createMs / 1000;
    const vocab = logitsVocab(findLogitsOutput(model)) ?? 1000;
    const grid = job.latency.batch.flatMap((batch) => job.latency!.seqLen.map((seqLen) => ({ batch, seqLen })));
    try {
      for (const [i, { batch, seqLen }] of grid.entries()) {
        if (hooks.shouldStop?.()) {
          outcome.partial = true;
          break;
        }
        hooks.onProgress?.({ stage: "latency", done: i, total: grid.length, detail: `batch ${batch} x seq ${seqLen}` });
        const { partial, ...latency } = await measureLatency({ ...job.latency, session: created.session, family, provider, batch, seqLen, vocab: Math.min(vocab, 1000), threads: job.threads, sessionMs: created.createMs, shouldStop: hooks.shouldStop });
        outcome.latency.push(latency);
        if (partial) {
          outcome.partial = true;
          break;
        }
      }
      hooks.onProgress?.({ stage: "latency", done: outcome.latency.length, total: grid.length });
    } finally {
      await created.session.release();
    }
  }
  return { ...outcome, runner: runnerFingerprint({ provider }) };
}
