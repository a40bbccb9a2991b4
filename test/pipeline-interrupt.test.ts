/**
 * Ctrl-C at any moment of an evaluation, in real child processes: `prunebench eval` and `run`
 * (its evaluate stage runs in a worker thread) end with exit 130 and the resume line, with no
 * stack and no run recorded as failed; the same command then finishes. An output folder that
 * was moved resumes from its journal without redoing a stage.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ResultSchema } from "../src/results/schema.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const RESUME = /^error: interrupted during .+; finished stages are saved, run the same command again to resume$/m;

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Whether SIGINT was sent (the moment came before the command ended). */
  interrupted: boolean;
}

/**
 * Runs the CLI from the sources; `when` is asked on every stderr line and every 20 ms (with no
 * line) whether this is the moment, and SIGINT is sent once it says so.
 */
function cli(args: string[], when?: (line: string | null) => boolean, env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, "bin/prunebench.js"), ...args], { env: { ...process.env, PRUNEBENCH_FROM_SOURCE: "1", CI: "1", ...env } });
    let stdout = "";
    let stderr = "";
    let pending = "";
    let interrupted = false;
    const check = (line: string | null) => {
      if (!interrupted && when?.(line)) {
        interrupted = true;
        child.kill("SIGINT");
      }
    };
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk;
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) check(line);
    });
    const timer = setInterval(() => check(null), 20);
    child.on("close", (code, signal) => {
      clearInterval(timer);
      resolve({ code, signal, stdout, stderr, interrupted });
    });
  });
}

function assertInterrupted(label: string, run: Finished): void {
  assert.ok(run.interrupted, `${label}: the moment came (stderr:\n${run.stderr})`);
  assert.equal(run.code, 130, `${label}: exit 130 (signal ${run.signal}), stderr:\n${run.stderr}`);
  assert.match(run.stderr, RESUME, label);
  assert.equal(run.stderr.split("\n").filter((l) => l.startsWith("error:")).length, 1, `${label}: one error line:\n${run.stderr}`);
  assert.doesNotMatch(run.stderr, /\n\s+at |EvalWorkerError|internal error/, `${label}: no stack:\n${run.stderr}`);
}

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-interrupt-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("prunebench eval: Ctrl-C while the worker starts, or mid-evaluation, exits 130 with the resume line", async (t) => {
  const dir = tmp(t);
  const json = path.join(dir, "eval.json");
  const args = ["eval", path.join(root, "demo/models/decoder.onnx"), "--tokenizer", path.join(root, "demo/tokenizer.json"), "--dataset", "bundled/test", "--seq-len", "64", "--cache", dir, "--json", json];
  // The worker thread is loading the model, tokenizing and creating its session here.
  assertInterrupted("eval, worker starting", await cli(args, (line) => line !== null && line.startsWith("eval ")));
  assert.equal(existsSync(json), false, "nothing was measured, nothing written");
  const mid = await cli(args, (line) => line !== null && /^perplexity: started/.test(line));
  assertInterrupted("eval, mid-evaluation", mid);
  assert.match(mid.stdout, /\(PARTIAL\)/, "what was measured is printed, marked partial");
  assert.equal((JSON.parse(readFileSync(json, "utf8")) as { partial: boolean }).partial, true);
});

/** The bundled decoder, one magnitude point, perplexity only: the smallest full run. */
function smallConfig(dir: string): string {
  const file = path.join(dir, "decoder.yml");
  writeFileSync(
    file,
    `name: demo-decoder
model:
  path: ${path.join(root, "demo/models/decoder.onnx")}
  tokenizer: ${path.join(root, "demo/tokenizer.json")}
prune:
  methods: [magnitude]
  sparsity: [0.5]
eval:
  perplexity: { dataset: bundled/test, seq_len: 64, max_tokens: 3000 }
  latency: false
`,
  );
  return file;
}

function results(out: string): ReturnType<typeof ResultSchema.parse> | undefined {
  const file = path.join(out, "results", "demo-decoder.json");
  return existsSync(file) ? ResultSchema.parse(JSON.parse(readFileSync(file, "utf8"))) : undefined;
}

function stageTimes(out: string): Map<string, number> {
  const stages = path.join(out, "demo-decoder", "stages");
  return new Map(readdirSync(stages).map((f) => [f, statSync(path.join(stages, f)).mtimeMs]));
}

test("prunebench run: Ctrl-C before the worker, while it starts, and mid-evaluation records no failed run; the same command finishes; a moved folder resumes", async (t) => {
  const dir = tmp(t);
  const config = smallConfig(dir);
  const out = path.join(dir, "out");
  const args = (o: string) => ["run", config, "--out", o, "--cache", path.join(dir, "cache"), "--no-report"];
  const moments: Array<[string, (line: string | null) => boolean]> = [
    ["before the worker (the analyze stage)", (line) => line !== null && line.startsWith("== demo-decoder")],
    // Printed as the worker thread is started: it then loads the model, tokenizes, creates its session.
    ["the evaluation worker starting (model, tokens, session)", (line) => line !== null && line.startsWith("evaluate dense")],
    ["mid-evaluation", (line) => line !== null && /perplexity: started/.test(line)],
  ];
  for (const [label, when] of moments) {
    const run = await cli(args(out), when);
    assertInterrupted(label, run);
    const failed = (results(out)?.runs ?? []).filter((r) => r.error);
    assert.deepEqual(failed, [], `${label}: no run recorded as failed`);
  }
  const finished = await cli(args(out));
  assert.equal(finished.code, 0, finished.stderr);
  const done = results(out)!;
  assert.deepEqual(done.runs.map((r) => [r.id, r.error]), [["dense", undefined], ["magnitude@0.5", undefined]]);

  // Moved (or restored from a CI cache elsewhere): every stage is read back, none redone.
  const moved = path.join(dir, "restored");
  renameSync(out, moved);
  const before = stageTimes(moved);
  const again = await cli(args(moved));
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(stageTimes(moved), before, "no stage was redone or added");
  assert.deepEqual(results(moved)!.runs.map((r) => [r.id, r.error, r.perplexity?.token]), done.runs.map((r) => [r.id, r.error, r.perplexity?.token]));
});

test("prunebench prune --budget: Ctrl-C during the search exits 130, writes nothing and leaves no scratch folder", async (t) => {
  const dir = tmp(t);
  const scratchParent = path.join(dir, "tmp");
  mkdirSync(scratchParent);
  const out = path.join(dir, "pruned.onnx");
  const args = ["prune", path.join(root, "demo/models/decoder.onnx"), "--method", "magnitude", "--budget", "5%", "--dataset", "bundled/test", "--tokenizer", path.join(root, "demo/tokenizer.json"), "--seq-len", "64", "--cache", dir, "--out", out, "--json", path.join(dir, "budget.json")];
  // The dense perplexity is measured; the search's first candidate is being pruned or evaluated.
  const run = await cli(args, (line) => line !== null && line.includes("dense perplexity"), { TMPDIR: scratchParent });
  assert.ok(run.interrupted, `the moment came (stderr:\n${run.stderr})`);
  assert.equal(run.code, 130, `exit 130 (signal ${run.signal}), stderr:\n${run.stderr}`);
  assert.match(run.stderr, /^error: interrupted during the budget search; nothing was written$/m);
  assert.equal(run.stderr.split("\n").filter((l) => l.startsWith("error:")).length, 1, run.stderr);
  assert.doesNotMatch(run.stderr, /\n\s+at |internal error/, run.stderr);
  assert.ok(!existsSync(out) && !existsSync(path.join(dir, "budget.json")), "nothing written");
  assert.deepEqual(readdirSync(scratchParent).filter((name) => name.startsWith("prunebench-budget-")), [], "the scratch folder is removed");
});
