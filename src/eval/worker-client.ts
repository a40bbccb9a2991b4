/**
 * Runs an evaluation job in a worker thread. stop() (wired to SIGINT by the CLI) or the time
 * limit asks the worker to finish after its current batch; the outcome is then marked partial.
 * A stop before there is anything to mark (the worker still loading, tokenizing or creating its
 * session) rejects with RunInterrupted from stop(), or a one-line UserError from the time limit:
 * never with the error the interrupted step happened to throw.
 */
import { Worker } from "node:worker_threads";
import { RunInterrupted, UserError } from "../errors.ts";
import type { EvalJob, EvalOutcome, EvalProgress } from "./job.ts";

export interface WorkerRunOptions {
  onProgress?: (progress: EvalProgress) => void;
  /** Ask the worker to stop after this many ms. */
  timeLimitMs?: number;
}

export interface WorkerRun {
  result: Promise<EvalOutcome>;
  stop(): void;
}

/**
 * An error thrown in the evaluation worker, re-raised here: a user error there (a bad dataset,
 * a model that cannot run) stays one here, with its exit code; the worker's stack is kept for --debug.
 */
export class EvalWorkerError extends UserError {
  constructor(
    message: string,
    readonly original: string,
    readonly workerStack?: string,
    exitCode?: number,
  ) {
    super(message, { exitCode });
  }
}

export function runInWorker(job: EvalJob, options: WorkerRunOptions = {}): WorkerRun {
  const stopBuffer = new SharedArrayBuffer(4);
  const flag = new Int32Array(stopBuffer);
  let stoppedBy: "request" | "time limit" | undefined;
  const stopFor = (why: "request" | "time limit") => {
    stoppedBy ??= why;
    Atomics.store(flag, 0, 1);
  };
  const stop = () => stopFor("request");
  const ts = import.meta.url.endsWith(".ts");
  const url = new URL(ts ? "./worker.ts" : "./worker.js", import.meta.url);
  // Running from sources, the worker registers tsx's loader itself before importing its entry:
  // bin/prunebench.js registers it in-process, and on Node 20 neither that nor the parent's
  // --import hooks reach a worker's main module.
  const source = ts
    ? `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`
    : `import(${JSON.stringify(url.href)});`;
  const worker = new Worker(source, { eval: true, workerData: { job, stop: stopBuffer } });
  const timer = options.timeLimitMs ? setTimeout(() => stopFor("time limit"), options.timeLimitMs) : undefined;
  const result = new Promise<EvalOutcome>((resolve, reject) => {
    let settled = false;
    worker.on("message", (message: { type: string; progress?: EvalProgress; outcome?: EvalOutcome; message?: string; name?: string; stack?: string; exitCode?: number }) => {
      if (message.type === "progress") options.onProgress?.(message.progress!);
      else if (message.type === "result") {
        settled = true;
        resolve(message.outcome!);
      } else if (message.type === "stopped") {
        settled = true;
        reject(stoppedBy === "time limit" ? new UserError(`evaluation of ${job.model}: the time limit ran out before any result`) : new RunInterrupted("evaluation"));
      } else if (message.type === "error") {
        settled = true;
        reject(new EvalWorkerError(message.message!, message.name ?? "Error", message.stack, message.exitCode));
      }
    });
    worker.on("error", (error) => {
      settled = true;
      reject(error);
    });
    worker.on("exit", (code) => {
      if (timer) clearTimeout(timer);
      if (!settled) reject(new Error(`evaluation worker exited with code ${code} before reporting`));
    });
  });
  return { result, stop };
}
