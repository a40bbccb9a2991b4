import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { FakeGitHub, makeResult } from "./helpers/fake-github.ts";
import { runAction } from "../action/run-action.ts";
import { INPUT_NAMES, readInputs, parseThresholds } from "../action/inputs.ts";
import { loadRunConfigs, type RunConfigsOptions } from "../action/pipeline.ts";
import type { RunConfigsOptions as PipelineOptions } from "../src/pipeline/index.ts";
import type { Logger } from "../action/log.ts";
import { commentMarker } from "../src/github/comment.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const HEAD = "c".repeat(40);
const gh = new FakeGitHub();
let tmp: string;

before(async () => {
  await gh.start();
  tmp = mkdtempSync(path.join(os.tmpdir(), "pb-run-"));
  process.env.GITHUB_OUTPUT = path.join(tmp, "output.txt");
  writeFileSync(process.env.GITHUB_OUTPUT, "");
  gh.pullFiles.set(5, [
    { filename: "models/gpt2.yml", status: "modified" },
    { filename: "README.md", status: "modified" },
  ]);
});
after(async () => {
  await gh.stop();
  rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
function setup(inputs: Record<string, string>, eventName = "pull_request") {
  const ws = path.join(tmp, `ws${++n}`);
  mkdirSync(path.join(ws, "models"), { recursive: true });
  for (const m of ["gpt2", "bert"]) writeFileSync(path.join(ws, "models", `${m}.yml`), `name: ${m}\n`);
  const event = path.join(tmp, `event${n}.json`);
  writeFileSync(event, JSON.stringify({ pull_request: { number: 5, head: { sha: HEAD, repo: { full_name: "octo/models" } }, base: { sha: "b".repeat(40), ref: "main" } } }));
  const env: NodeJS.ProcessEnv = {
    GITHUB_EVENT_NAME: eventName,
    GITHUB_EVENT_PATH: event,
    GITHUB_REPOSITORY: "octo/models",
    GITHUB_SHA: "d".repeat(40),
    GITHUB_API_URL: gh.baseUrl,
    GITHUB_WORKSPACE: ws,
    GITHUB_JOB: "bench",
    RUNNER_TEMP: path.join(tmp, `temp${n}`),
    PRUNEBENCH_API_RETRY_BASE_MS: "5",
    PRUNEBENCH_API_WRITE_GAP_MS: "0",
    // Nothing leaves the machine in tests: long chart URLs only.
    PRUNEBENCH_QUICKCHART_URL: "off",
  };
  for (const [k, v] of Object.entries({ "github-token": "test-token", "results-dir": "out", ...inputs })) env[`INPUT_${k.toUpperCase()}`] = v;
  const calls: RunConfigsOptions[] = [];
  // Stands in for src/pipeline's runConfigs: one result per config, in a nested folder as a pipeline may write them.
  const runConfigs = async (options: RunConfigsOptions) => {
    calls.push(options);
    for (const config of options.configs) {
      const model = path.basename(config, ".yml");
      mkdirSync(path.join(options.outDir, model), { recursive: true });
      writeFileSync(path.join(options.outDir, model, "result.json"), JSON.stringify(makeResult({ model })));
      writeFileSync(path.join(options.outDir, model, "journal.json"), JSON.stringify({ stage: "done" }));
    }
  };
  const lines: string[] = [];
  const log: Logger = { info: (m) => lines.push(m), warning: (m) => lines.push(`warning: ${m}`), error: (m) => lines.push(`error: ${m}`), debug: () => {} };
  return { ws, env, calls, runConfigs, log, lines };
}

test("run mode runs only the configs the PR changed, stamps the shard, writes a manifest, and writes nothing to GitHub", async () => {
  const s = setup({ mode: "run", shard: "gpu-0", providers: "cuda" });
  const writesBefore = gh.requests.filter((r) => r.method !== "GET").length;
  const code = await runAction({ env: s.env, runConfigs: s.runConfigs, log: s.log });
  assert.equal(code, 0, s.lines.join("\n"));
  assert.equal(s.calls.length, 1);
  assert.deepEqual(s.calls[0].configs, [path.join(s.ws, "models/gpt2.yml")]);
  assert.deepEqual(s.calls[0].providers, ["cuda"]);
  assert.equal(s.calls[0].shard, "gpu-0");
  const result = JSON.parse(readFileSync(path.join(s.ws, "out/gpu-0/gpt2.gpu-0.json"), "utf8"));
  assert.equal(result.shard, "gpu-0");
  assert.equal(result.commit, HEAD);
  const manifest = JSON.parse(readFileSync(path.join(s.ws, "out/gpu-0/prunebench-run.json"), "utf8"));
  assert.deepEqual(manifest, { manifest: 1, shard: "gpu-0", commit: HEAD, pull: 5, baseSha: "b".repeat(40), configs: ["models/gpt2.yml"], eventName: "pull_request" });
  assert.ok(!existsSync(path.join(s.ws, "out/gpu-0/journal.json")), "the pipeline's working files stay out of the artifact");
  assert.equal(gh.requests.filter((r) => r.method !== "GET").length, writesBefore);
});

test("all-configs runs every config; a files API failure falls back to every config with a warning", async () => {
  const all = setup({ mode: "run", "all-configs": "true" });
  assert.equal(await runAction({ env: all.env, runConfigs: all.runConfigs, log: all.log }), 0);
  assert.deepEqual(all.calls[0].configs.map((c) => path.basename(c)), ["bert.yml", "gpt2.yml"]);
  // providers: auto without the CUDA build installed keeps to the CPU; the runner is recorded.
  assert.deepEqual(all.calls[0].providers, ["cpu"]);
  const runner = JSON.parse(readFileSync(path.join(all.env.RUNNER_TEMP!, "prunebench-runner.json"), "utf8"));
  assert.match(runner.fingerprint, /^[0-9a-f]{16}$/);
  assert.ok(all.lines.some((l) => l.startsWith(`runner fingerprint ${runner.fingerprint}`)));

  gh.fail({ path: /\/pulls\/5\/files$/ }, { status: 404, body: { message: "Not Found" } });
  const down = setup({ mode: "run" });
  assert.equal(await runAction({ env: down.env, runConfigs: down.runConfigs, log: down.log }), 0);
  assert.equal(down.calls[0].configs.length, 2);
  assert.ok(down.lines.some((l) => /warning: could not list the files of PR #5/.test(l)), down.lines.join("\n"));
});

test("a pipeline failure ends the run with its error", async () => {
  const s = setup({ mode: "run-and-report" });
  const code = await runAction({ env: s.env, runConfigs: async () => Promise.reject(new Error("gpt2.yml: model.path: file not found")), log: s.log });
  assert.equal(code, 1);
  assert.ok(s.lines.some((l) => /error: prunebench: gpt2\.yml: model\.path: file not found/.test(l)), s.lines.join("\n"));
});

test("run-and-report in one job: the shard's results are reported and the PR commented", async () => {
  const s = setup({ mode: "run-and-report", "comment-key": "single" });
  const code = await runAction({ env: s.env, runConfigs: s.runConfigs, log: s.log });
  assert.equal(code, 0, s.lines.join("\n"));
  const comment = gh.comments.get(5)?.find((c) => c.body.startsWith(commentMarker("single")));
  assert.ok(comment);
  assert.match(comment.body, /### Model: gpt2/);
  assert.match(comment.body, /No baseline:.*no stored results for the merge base/);
  assert.match(readFileSync(process.env.GITHUB_OUTPUT!, "utf8"), /verdict<</);
});

test("inputs: action.yml declares exactly what readInputs reads; bad values name the input", () => {
  const action = parse(readFileSync(path.join(ROOT, "action.yml"), "utf8")) as { inputs: Record<string, { default?: string; description: string }>; outputs: Record<string, unknown>; runs: { using: string; main: string } };
  assert.deepEqual(Object.keys(action.inputs).sort(), [...INPUT_NAMES].sort());
  for (const [name, input] of Object.entries(action.inputs)) assert.ok(input.description.length > 20, `${name} has a description`);
  assert.deepEqual(Object.keys(action.outputs).sort(), ["comment-url", "dashboard-path", "report-path", "results-path", "verdict"]);
  assert.equal(action.runs.using, "node24");
  assert.ok(existsSync(path.join(ROOT, action.runs.main)));
  // The runner passes every default as INPUT_*: they must parse.
  const env: NodeJS.ProcessEnv = {};
  for (const [name, input] of Object.entries(action.inputs)) env[`INPUT_${name.toUpperCase()}`] = String(input.default ?? "").replace("${{ github.token }}", "t");
  const inputs = readInputs(env);
  assert.equal(inputs.mode, "run-and-report");
  assert.deepEqual(inputs.store, { kind: "branch", branch: "prunebench-results" });
  assert.equal(inputs.failOnRegression, true);
  assert.throws(() => readInputs({ INPUT_MODE: "deploy" }), /input 'mode': expected one of run, report, run-and-report, got 'deploy'/);
  assert.throws(() => readInputs({ "INPUT_FAIL-ON-REGRESSION": "maybe" }), /input 'fail-on-regression'/);
  assert.throws(() => readInputs({ INPUT_PROVIDERS: "cpu, tpu" }), /input 'providers'.*'tpu'/);
  assert.throws(() => readInputs({ "INPUT_RESULTS-STORE": "s3:x" }), /input 'results-store'/);
  assert.deepEqual(parseThresholds("perplexity=2%, latency: 0.1"), { perplexity: 0.02, latency: 0.1 });
  assert.deepEqual(parseThresholds("reach=5%"), { reach: 0.05 });
  assert.throws(() => parseThresholds("speed=1%"), /input 'thresholds'/);
});

test("baseline: merge-base-or-run runs the merge base in a worktree when nothing is stored, and stores it", async () => {
  const s = setup({ mode: "run-and-report", baseline: "merge-base-or-run", "results-store": `dir:${path.join(tmp, "store")}`, "comment-key": "base-run", "all-configs": "true" });
  const git = (...args: string[]) => execFileSync("git", ["-C", s.ws, ...args], { encoding: "utf8" }).trim();
  git("init", "-q");
  git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "root");
  writeFileSync(path.join(s.ws, "models/gpt2.yml"), "name: gpt2\n# ppl 20\n");
  rmSync(path.join(s.ws, "models/bert.yml"));
  git("add", "models");
  git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base");
  const base = git("rev-parse", "HEAD");
  writeFileSync(path.join(s.ws, "models/gpt2.yml"), "name: gpt2\n# ppl 30\n");
  git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "head");
  const head = git("rev-parse", "HEAD");
  writeFileSync(s.env.GITHUB_EVENT_PATH!, JSON.stringify({ pull_request: { number: 8, head: { sha: head, repo: { full_name: "octo/models" } }, base: { sha: base, ref: "main" } } }));
  // A pipeline whose perplexity is what the config says, so base and head differ.
  const seen: string[] = [];
  const runConfigs = async (options: RunConfigsOptions) => {
    for (const config of options.configs) {
      seen.push(config);
      const ppl = Number(/ppl (\d+)/.exec(readFileSync(config, "utf8"))![1]);
      mkdirSync(options.outDir, { recursive: true });
      writeFileSync(path.join(options.outDir, "gpt2.json"), JSON.stringify(makeResult({ model: "gpt2", ppl: { "dense@0": ppl } })));
    }
  };
  const code = await runAction({ env: s.env, runConfigs, log: s.log });
  assert.equal(code, 2, s.lines.join("\n")); // +50% perplexity: a regression, and fail-on-regression is on
  assert.equal(seen.length, 2);
  assert.ok(!seen[1].startsWith(s.ws), "the base ran in a worktree outside the workspace");
  assert.ok(s.lines.some((l) => l.startsWith(`running 1 config(s) at the merge base ${base.slice(0, 12)}`)));
  const comment = gh.comments.get(8)!.find((c) => c.body.startsWith(commentMarker("base-run")))!;
  assert.match(comment.body, /regression/);
  const verdict = JSON.parse(readFileSync(path.join(s.ws, "out/report/verdict.json"), "utf8")) as { comparisons: Array<{ metric: string; state: string; base: number; head: number }> };
  assert.deepEqual(verdict.comparisons.filter((c) => c.metric === "perplexity").map((c) => [c.state, c.base, c.head]), [["regression", 20, 30]]);
  const stored = JSON.parse(readFileSync(path.join(tmp, "store/results", base, "cpu-abc123/gpt2.json"), "utf8"));
  assert.equal(stored.commit, base);
  assert.ok(existsSync(path.join(tmp, "store/results", head, "cpu-abc123/gpt2.json")));
  assert.equal(git("worktree", "list").split("\n").length, 1, "the worktree is removed");
});

test("run mode loads src/pipeline's runConfigs, and what it passes fits that function's options", async () => {
  const runConfigs = await loadRunConfigs();
  assert.equal(typeof runConfigs, "function");
  const ours: RunConfigsOptions = { configs: [], outDir: tmp, commit: HEAD, shard: "s", report: false };
  const theirs: PipelineOptions = ours;
  assert.equal(theirs.report, false);
});
