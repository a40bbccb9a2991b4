/**
 * One output folder shared by several runs: a lock keeps two from writing at once (a second
 * waits, naming the holder's pid; a dead holder's lock is taken over), the report covers every
 * result in results/, and nothing a run writes may replace a config's model.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createStopSignal } from "../src/pipeline/context.ts";
import { LOCK_FILE, folderResults, lockOutFolder, runOutputs } from "../src/pipeline/out-folder.ts";
import { readResultFile } from "../src/results/read.ts";
import { modelInputs, refuseOverwrites } from "../src/util/overwrite.ts";
import { RunInterrupted, UserError } from "../src/errors.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FIXTURES = path.join(root, "test/fixtures/results");

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-outdir-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function deadPid(): number {
  return Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout);
}

function plantLock(out: string, holder: { pid: number; host?: string }): string {
  mkdirSync(out, { recursive: true });
  const file = path.join(out, LOCK_FILE);
  writeFileSync(file, JSON.stringify({ pid: holder.pid, host: holder.host ?? os.hostname(), since: "2024-01-01T00:00:00.000Z" }));
  return file;
}

const settledWithin = async (promise: Promise<unknown>, ms: number) => Promise.race([promise.then(() => true), new Promise((r) => setTimeout(() => r(false), ms))]);

test("the lock: a second holder waits (naming the pid) until the first releases; a dead pid's lock is taken over", async (t) => {
  const out = tmp(t);
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);
  const first = await lockOutFolder(out, { stop: createStopSignal(), log, pollMs: 10 });
  assert.equal(JSON.parse(readFileSync(path.join(out, LOCK_FILE), "utf8")).pid, process.pid);
  // A live holder (this process, seen by the next acquirer as any other run) keeps the lock.
  const second = lockOutFolder(out, { stop: createStopSignal(), log, pollMs: 10 });
  assert.equal(await settledWithin(second, 200), false, "the second waits while the first holds the lock");
  assert.equal(lines.filter((l) => l.includes(`in use by prunebench pid ${process.pid}`)).length, 1, lines.join("\n"));
  first.release();
  (await second).release();
  assert.equal(existsSync(path.join(out, LOCK_FILE)), false, "released");

  const dead = deadPid();
  plantLock(out, { pid: dead });
  (await lockOutFolder(out, { stop: createStopSignal(), log, pollMs: 10 })).release();
  assert.ok(lines.some((l) => l.includes(`took over the lock of prunebench pid ${dead}, which is no longer running`)), lines.join("\n"));
});

test("the lock: another host's is waited on with the file to remove; Ctrl-C ends the wait; a foreign file is named, not removed", async (t) => {
  const out = tmp(t);
  const lines: string[] = [];
  const lock = plantLock(out, { pid: deadPid(), host: "elsewhere" });
  const stop = createStopSignal();
  const waiting = lockOutFolder(out, { stop, log: (l) => lines.push(l), pollMs: 10 });
  assert.equal(await settledWithin(waiting, 200), false, "a lock of another host is not judged by pid");
  assert.match(lines.join("\n"), new RegExp(`on elsewhere \\(remove ${lock.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} if that run is gone\\)`));
  stop.request();
  await assert.rejects(waiting, (e) => e instanceof RunInterrupted && e.exitCode === 130);
  writeFileSync(lock, "not json");
  await assert.rejects(lockOutFolder(out, { stop: createStopSignal(), log: () => {}, pollMs: 10 }), (e) => e instanceof UserError && /cannot be read as a prunebench lock/.test(e.message));
  assert.equal(readFileSync(lock, "utf8"), "not json");
});

test("the report's results: this run's first, then every other valid result file of the folder; an invalid one is named and left out", (t) => {
  const out = tmp(t);
  mkdirSync(path.join(out, "results"));
  for (const name of ["gpt2", "bert-base-uncased", "pegasus-large"]) copyFileSync(path.join(FIXTURES, `${name}.json`), path.join(out, "results", `${name}.json`));
  writeFileSync(path.join(out, "results", "broken.json"), "{");
  const own = [readResultFile(path.join(out, "results", "pegasus-large.json"))];
  const lines: string[] = [];
  const all = folderResults(out, own, (l) => lines.push(l));
  assert.deepEqual(all.map((r) => r.model), ["pegasus-large", "bert-base-uncased", "gpt2"]);
  assert.equal(all[0], own[0], "this run's result object, not a re-read");
  assert.equal(lines.length, 1);
  assert.match(lines[0], /broken\.json: not valid JSON.*left out of the report/);
});

test("a model may live in the output folder, but not where results, journals or the report go", (t) => {
  const out = tmp(t);
  mkdirSync(path.join(out, "models"));
  copyFileSync(path.join(root, "demo/models/decoder.onnx"), path.join(out, "models", "m.onnx"));
  refuseOverwrites(modelInputs(path.join(out, "models", "m.onnx")), runOutputs(out, ["m"], true));
  mkdirSync(path.join(out, "results"));
  copyFileSync(path.join(root, "demo/models/decoder.onnx"), path.join(out, "results", "m.json"));
  assert.throws(() => refuseOverwrites(modelInputs(path.join(out, "results", "m.json")), runOutputs(out, ["m"], true)), (e) => e instanceof UserError && e.exitCode === 2 && /^--out .*results\/m\.json: this is the input model/.test(e.message));
  mkdirSync(path.join(out, "charts"));
  copyFileSync(path.join(root, "demo/models/decoder.onnx"), path.join(out, "charts", "m.onnx"));
  refuseOverwrites(modelInputs(path.join(out, "charts", "m.onnx")), runOutputs(out, ["m"], false));
  assert.throws(() => refuseOverwrites(modelInputs(path.join(out, "charts", "m.onnx")), runOutputs(out, ["m"], true)), /charts: the input model .* lies in this folder/);
});

function config(dir: string, name: string, sparsity: number): string {
  const file = path.join(dir, `${name}.yml`);
  writeFileSync(
    file,
    `name: ${name}
model:
  path: ${path.join(root, "demo/models/decoder.onnx")}
  tokenizer: ${path.join(root, "demo/tokenizer.json")}
prune:
  methods: [magnitude]
  sparsity: [${sparsity}]
eval:
  perplexity: { dataset: bundled/test, seq_len: 64, max_tokens: 1500 }
  latency: false
`,
  );
  return file;
}

interface Child {
  done: Promise<number | null>;
  stderr: () => string;
}

function run(args: string[]): Child {
  const child = spawn(process.execPath, [path.join(root, "bin/prunebench.js"), "run", ...args], { env: { ...process.env, PRUNEBENCH_FROM_SOURCE: "1", CI: "1" }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
  return { done: new Promise((resolve) => child.on("close", (code) => resolve(code))), stderr: () => stderr };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 6000 && !condition(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(condition(), what);
}

test("two runs of different configs into one --out at once: the second waits on the lock, and the report covers both", async (t) => {
  const dir = tmp(t);
  const out = path.join(dir, "out");
  // Held by this (live) test process, so both runs must wait until it is removed.
  const lock = plantLock(out, { pid: process.pid });
  const a = run([config(dir, "a", 0.3), "--out", out, "--cache", path.join(dir, "cache"), "--charts", "none"]);
  const b = run([config(dir, "b", 0.6), "--out", out, "--cache", path.join(dir, "cache"), "--charts", "none"]);
  const waitLine = `in use by prunebench pid ${process.pid}`;
  await until(() => a.stderr().includes(waitLine) && b.stderr().includes(waitLine), `both wait for pid ${process.pid}:\n${a.stderr()}\n${b.stderr()}`);
  assert.equal(existsSync(path.join(out, "results")), false, "nothing written while waiting");
  rmSync(lock);
  const [codeA, codeB] = await Promise.all([a.done, b.done]);
  assert.deepEqual([codeA, codeB], [0, 0], `${a.stderr()}\n${b.stderr()}`);
  // Whichever came second waited for the first by pid.
  assert.ok(/in use by prunebench pid \d+/.test(a.stderr().replaceAll(waitLine, "")) || /in use by prunebench pid \d+/.test(b.stderr().replaceAll(waitLine, "")), "one waited for the other");
  const report = readFileSync(path.join(out, "report.md"), "utf8");
  for (const name of ["a", "b"]) assert.ok(report.includes(`### Model: ${name}`), `report.md covers ${name}`);
  const verdict = JSON.parse(readFileSync(path.join(out, "verdict.json"), "utf8")) as { missingBase: string[] };
  assert.deepEqual([...verdict.missingBase].sort(), ["a", "b"]);
  for (const name of ["a", "b"]) assert.equal(readResultFile(path.join(out, "results", `${name}.json`)).runs.filter((r) => r.error).length, 0);
  assert.equal(existsSync(lock), false, "the lock is gone");
});
