import { evalJob, type EvalJob, type EvalOutcome } from "../../eval/job.ts";
import { runInWorker } from "../../eval/worker-client.ts";
import type { Latency, Perplexity } from "../../results/schema.ts";
import { RunInterrupted, type RunContext } from "../context.ts";
import { datasetText } from "../datasets.ts";

/** What the evaluate stage records for one model file. */
export interface Measures {
  perplexity?: Perplexity;
  latency: Latency[];
  warnings: string[];
  seconds: number;
}

/**
 * Perplexity (on the first provider) and latency (on every provider) of one model, each job in
 * a worker thread so progress, SIGINT and time limits keep working while session.run blocks.
 * A stopped job leaves nothing in the journal: the stage is redone on resume.
 */
export async function evaluateStage(ctx: RunContext, stage: string, modelFile: string, label: string, options: { latency?: boolean } = {}): Promise<Measures> {
  const done = ctx.journal.get<Measures>(stage);
  if (done) return done;
  // The budget search measures perplexity alone: its points are many and latency does not decide them.
  const evalConfig = options.latency === false ? { ...ctx.loaded.config.eval, latency: false as const } : ctx.loaded.config.eval;
  const started = performance.now();
  const measures: Measures = { latency: [], warnings: [], seconds: 0 };
  const providers = evalConfig.latency ? evalConfig.latency.providers : ["cpu" as const];
  for (const [i, provider] of providers.entries()) {
    const p = i === 0 && evalConfig.perplexity ? evalConfig.perplexity : undefined;
    // The text is cut to max_tokens once, in the run's data folder, where the overlap check reads it too.
    const data = p ? await datasetText(ctx, p.dataset, p.max_tokens) : undefined;
    const l = evalConfig.latency;
    const job = evalJob({
      model: modelFile,
      family: ctx.map.family,
      provider,
      threads: l ? l.threads || undefined : undefined,
      perplexity: p && data ? { ...p, dataset: data.file, datasetName: data.label, max_tokens: undefined, seq_len: ctx.seqLen.eval, tokenizer: ctx.tokenizerFile, cacheDir: ctx.cacheDir } : undefined,
      latency: l ? { batch: l.batch, seq_len: l.seq_len, budget_ms: l.budget_ms, warmup: l.warmup } : undefined,
    });
    if (!job.perplexity && !job.latency) continue;
    if (ctx.stop.requested) throw new RunInterrupted(stage);
    const outcome = await runJob(ctx, job, `${label} [${provider}]`).catch((error: unknown) => {
      throw error instanceof RunInterrupted ? new RunInterrupted(stage) : error;
    });
    if (outcome.partial) throw new RunInterrupted(stage);
    if (outcome.perplexity) measures.perplexity = outcome.perplexity;
    measures.latency.push(...outcome.latency);
    measures.warnings.push(...outcome.warnings);
  }
  measures.seconds = (performance.now() - started) / 1000;
  ctx.journal.put(stage, measures);
  return measures;
}

async function runJob(ctx: RunContext, job: EvalJob, label: string): Promise<EvalOutcome> {
  let started = false;
  let phase = "";
  ctx.progress.log(`evaluate ${label}`);
  const run = runInWorker(job, {
    onProgress: (p) => {
      if (p.stage !== phase) {
        if (started) ctx.progress.stop();
        phase = p.stage;
        ctx.progress.start(`${label} ${p.stage}`, p.total);
        started = true;
      }
      ctx.progress.update(p.done, p.detail);
    },
  });
  const unsubscribe = ctx.stop.onRequest(() => run.stop());
  if (ctx.stop.requested) run.stop();
  try {
    return await run.result;
  } finally {
    unsubscribe();
    if (started) ctx.progress.stop();
  }
}
