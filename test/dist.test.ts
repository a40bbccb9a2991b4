import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildDist, RUNTIME_PACKAGES } from "../scripts/build-dist.ts";
import { makeResult } from "./helpers/fake-github.ts";

/**
 * The bundled CLI and Action (dist/, what users and runners execute), built fresh from the
 * sources into a folder inside the repository (so that the packages left outside the bundle
 * resolve from its node_modules): a test never runs a committed dist/ that lags the sources.
 * Whether the committed dist/ matches is `npm run check:dist` (.ci/run).
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
let out: string;
let tmp: string;

before(async () => {
  mkdirSync(path.join(ROOT, ".cache"), { recursive: true });
  out = mkdtempSync(path.join(ROOT, ".cache", "dist-test-"));
  tmp = mkdtempSync(path.join(os.tmpdir(), "pb-dist-"));
  await buildDist(out);
});
after(() => {
  rmSync(out, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

const node = (args: string[], env: NodeJS.ProcessEnv = process.env) => {
  const r = spawnSync(process.execPath, args, { cwd: ROOT, env, encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
};

test("the built CLI starts without tsx, and its eval worker, kernels and bundled corpus are found beside it", () => {
  const help = node([path.join(out, "cli.js"), "--help"]);
  assert.equal(help.status, 0, help.out);
  assert.match(help.out, /Usage: prunebench/);
  assert.match(help.out, /\brun \[options\] \[configs\.\.\.\]/);
  const dist = readFileSync(path.join(out, "cli.js"), "utf8");
  assert.doesNotMatch(dist, /from\s*"tsx/, "the bundle never loads tsx");
  const evaluated = node([path.join(out, "cli.js"), "eval", "demo/models/decoder.onnx", "--tokenizer", "demo/tokenizer.json", "--dataset", "bundled/test", "--seq-len", "64", "--time-limit", "8", "--cache", path.join(tmp, "cache")]);
  assert.equal(evaluated.status, 0, evaluated.out);
  assert.match(evaluated.out, /perplexity \(sliding-window, seq 64, stride 64\): token \d/);
});

test("the built Action reads shard results, writes the report and its outputs (report mode, no token)", () => {
  const ws = path.join(tmp, "ws");
  mkdirSync(path.join(ws, "results/shard-0"), { recursive: true });
  writeFileSync(path.join(ws, "results/shard-0/gpt2.shard-0.json"), JSON.stringify(makeResult({ model: "gpt2", shard: "shard-0" })));
  const event = path.join(tmp, "event.json");
  const output = path.join(tmp, "output.txt");
  const summary = path.join(tmp, "summary.md");
  writeFileSync(event, JSON.stringify({ after: "d".repeat(40) }));
  writeFileSync(output, "");
  writeFileSync(summary, "");
  const run = node([path.join(out, "action.js")], {
    PATH: process.env.PATH,
    GITHUB_ACTIONS: "true",
    GITHUB_EVENT_NAME: "push",
    GITHUB_EVENT_PATH: event,
    GITHUB_REPOSITORY: "octo/models",
    GITHUB_SHA: "d".repeat(40),
    GITHUB_REF: "refs/heads/main",
    GITHUB_WORKSPACE: ws,
    GITHUB_RUN_ID: "1",
    GITHUB_OUTPUT: output,
    GITHUB_STEP_SUMMARY: summary,
    RUNNER_TEMP: tmp,
    INPUT_MODE: "report",
    "INPUT_RESULTS-DIR": "results",
    "INPUT_RESULTS-STORE": "none",
    INPUT_CHARTS: "none",
  });
  assert.equal(run.status, 0, run.out);
  assert.ok(existsSync(path.join(ws, "results/report/report.md")));
  assert.match(readFileSync(summary, "utf8"), /### Model: gpt2/);
  assert.match(readFileSync(output, "utf8"), /^verdict<</m);
});

test("the built Action starts without its runtime packages: no static import of dist/action.js reaches onnxruntime-node", () => {
  // bootstrap.js loads dist/action.js while it installs them (action/pipeline.ts, runtimeInstalled);
  // a static import of one would fail that load on every cold runner. Dynamic import() is fine.
  const reached = new Set<string>();
  const external = new Set<string>();
  const walk = (file: string) => {
    if (reached.has(file)) return;
    reached.add(file);
    const code = readFileSync(path.join(out, file), "utf8");
    for (const m of code.matchAll(/\b(?:import|export)\s*(?:[\w$*{}\s,]*?\s*from\s*)?"([^"]+)"/g)) {
      if (m[1].startsWith("./")) walk(m[1].slice(2));
      else external.add(m[1]);
    }
  };
  walk("action.js");
  assert.ok(reached.size > 1, "the walk follows the chunks action.js imports");
  for (const name of RUNTIME_PACKAGES) assert.ok(![...external].some((s) => s === name || s.startsWith(`${name}/`)), `${name} is imported statically by ${[...reached].join(", ")}`);
});
