import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { FakeGitHub } from "./helpers/fake-github.ts";
import { ResultSchema } from "../src/results/schema.ts";

/**
 * The whole Action on a small demo config, as the runner runs it: `node action/bootstrap.js`
 * in run-and-report mode, the real pipeline (src/pipeline) on the bundled demo decoder, and
 * the real report stage, against the local GitHub API.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MODEL = path.join(ROOT, "demo/models/decoder.onnx");
const TOKENIZER = path.join(ROOT, "demo/tokenizer.json");
const skip = !existsSync(MODEL) || !existsSync(TOKENIZER) ? `the demo model ${MODEL} is not there (built by the demo script, issue 10)` : false;
const HEAD = "c".repeat(40);
const BASE = "b".repeat(40);
const gh = new FakeGitHub();
let tmp: string;

before(async () => {
  await gh.start();
  tmp = mkdtempSync(path.join(os.tmpdir(), "pb-action-demo-"));
});
after(async () => {
  await gh.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test("run-and-report on the demo decoder: the PR's changed config runs, results stored, one comment, summary, outputs", { skip }, async () => {
  const ws = path.join(tmp, "ws");
  mkdirSync(path.join(ws, "models"), { recursive: true });
  writeFileSync(
    path.join(ws, "models/demo.yml"),
    `name: demo-decoder
model:
  path: ${MODEL}
  tokenizer: ${TOKENIZER}
prune:
  methods: [magnitude]
  sparsity: [0.5]
eval:
  perplexity: { dataset: bundled/test, seq_len: 64, stride: 64, max_tokens: 400 }
  latency: { batch: [1], seq_len: [16], budget_ms: 50, warmup: 1 }
`,
  );
  writeFileSync(path.join(ws, "models/untouched.yml"), "name: untouched\nmodel: { path: missing.onnx }\n");
  gh.pullFiles.set(12, [{ filename: "models/demo.yml", status: "added" }]);
  const event = path.join(tmp, "event.json");
  writeFileSync(event, JSON.stringify({ pull_request: { number: 12, head: { sha: HEAD, repo: { full_name: "octo/models" } }, base: { sha: BASE, ref: "main" } } }));
  const summary = path.join(tmp, "summary.md");
  const output = path.join(tmp, "output.txt");
  writeFileSync(summary, "");
  writeFileSync(output, "");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GITHUB_ACTIONS: "true",
    GITHUB_EVENT_NAME: "pull_request",
    GITHUB_EVENT_PATH: event,
    GITHUB_REPOSITORY: "octo/models",
    GITHUB_SHA: "d".repeat(40),
    GITHUB_API_URL: gh.baseUrl,
    GITHUB_SERVER_URL: "https://github.test",
    GITHUB_RUN_ID: "1",
    GITHUB_JOB: "prunebench",
    GITHUB_WORKSPACE: ws,
    GITHUB_STEP_SUMMARY: summary,
    GITHUB_OUTPUT: output,
    RUNNER_TEMP: path.join(tmp, "runner-temp"),
    PRUNEBENCH_SKIP_INSTALL: "true",
    // The sources, not dist/ (which the lead rebuilds; test/dist.test.ts runs a fresh build).
    PRUNEBENCH_FROM_SOURCE: "true",
    PRUNEBENCH_FORCE_CPU: "true",
    PRUNEBENCH_API_RETRY_BASE_MS: "5",
    PRUNEBENCH_API_WRITE_GAP_MS: "0",
    "INPUT_GITHUB-TOKEN": "test-token",
    INPUT_MODE: "run-and-report",
    INPUT_CONFIGS: "models/*.yml",
    INPUT_CHARTS: "none",
  };
  const child = spawn(process.execPath, [path.join(ROOT, "action/bootstrap.js")], { cwd: ws, env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
  assert.equal(code, 0, log);

  // Only the config the PR changed ran (the other would fail: its model is missing).
  const result = ResultSchema.parse(JSON.parse(readFileSync(path.join(ws, "prunebench-results/prunebench/demo-decoder.prunebench.json"), "utf8")));
  assert.equal(result.shard, "prunebench");
  assert.equal(result.commit, HEAD);
  assert.deepEqual(result.runs.map((r) => r.id), ["dense", "magnitude@0.5"]);
  for (const run of result.runs) assert.ok(run.perplexity && run.perplexity.token > 1, `${run.id}: ${run.error ?? "no perplexity"}`);
  assert.ok(Math.abs(result.runs[1].achievedSparsity - 0.5) < 1e-3);

  const comments = gh.comments.get(12) ?? [];
  assert.equal(comments.length, 1);
  assert.match(comments[0].body, /^<!-- prunebench-report:models--\.yml\.[0-9a-f]{12} -->/);
  assert.match(comments[0].body, /demo-decoder/);
  assert.match(comments[0].body, /No baseline:/);
  assert.ok(readFileSync(summary, "utf8").includes("demo-decoder"));
  const outputs = readFileSync(output, "utf8");
  assert.match(outputs, /verdict<<[^\n]+\nno-base\n/);
  assert.match(outputs, /comment-url<<[^\n]+\nhttps:\/\/github\.test\/octo\/models\/pull\/12#issuecomment-\d+\n/);
  const stored = gh.fileAt("prunebench-results", `results/${HEAD}/${result.runner.fingerprint}/demo-decoder.json`);
  assert.ok(stored, "results stored under the PR head and the runner's fingerprint");
  assert.match(log, new RegExp(`runner fingerprint ${result.runner.fingerprint}`));
});
