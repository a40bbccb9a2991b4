/**
 * Worker-thread entry: session.run blocks its thread for the whole forward pass, so the
 * evaluation runs here and the main thread stays free for progress, SIGINT and time limits.
 * Stop requests arrive through a shared flag, read between batches (a message would wait
 * behind the blocked event loop). A job that throws once a stop was asked for reports "stopped".
 */
import { parentPort, workerData } from "node:worker_threads";
import { UserError } from "../errors.ts";
import { runEvalJob, type EvalJob } from "./job.ts";

const { job, stop } = workerData as { job: EvalJob; stop: SharedArrayBuffer };
const flag = new Int32Array(stop);

runEvalJob(job, {
  shouldStop: () => Atomics.load(flag, 0) !== 0,
  onProgress: (progress) => parentPort!.postMessage({ type: "progress", progress }),
}).then(
  (outcome) => parentPort!.postMessage({ type: "result", outcome }),
  (error: unknown) =>
    // A stop mid-start (loading, tokenizing, creating the session) ends in whatever that step
    // throws, e.g. "stopped before any token was scored": it is the stop, not a failure.
    parentPort!.postMessage(Atomics.load(flag, 0) !== 0 ? { type: "stopped" } : {
      type: "error",
      message: error instanceof Error ? error.message : String(error),
      name: error instanceof Error ? error.name : "Error",
      stack: error instanceof Error ? error.stack : undefined,
      exitCode: error instanceof UserError ? error.exitCode : undefined,
    }),
);
