import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { FakeGitHub, makeResult } from "./helpers/fake-github.ts";
import { commentMarker } from "../src/github/comment.ts";

/**
 * The Action's entry point run as the Actions runner runs it: `node action/bootstrap.js`
 * in a child process, with the event payload file, GITHUB_* variables, INPUT_* inputs and
 * the GITHUB_STEP_SUMMARY / GITHUB_OUTPUT files, against a local GitHub API.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BASE = "b".repeat(40);
const HEAD = "c".repeat(40);
const MERGE_BASE = "a".repeat(40);
const gh = new FakeGitHub();
let tmp: string;

before(async () => {
  await gh.start();
  tmp = mkdtempSync(path.join(os.tmpdir(), "pb-action-"));
  gh.mergeBases.set(`${BASE}...${HEAD}`, MERGE_BASE);
  gh.pulls.set(5, { headSha: HEAD, baseSha: BASE, baseRef: "main" });
  // The merge base's results, stored by an earlier run on main.
  gh.commitFile("prunebench-results", `results/${MERGE_BASE}/cpu-abc123/gpt2.json`, JSON.stringify(makeResult({ model: "gpt2", commit: MERGE_BASE })));
});
after(async () => {
  await gh.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  workspace: string;
  summary: string;
  outputs: Record<string, string>;
}

let runs = 0;

/** A fresh workspace with the given result files, one folder per shard as artifacts arrive. */
function workspace(files: Record<string, unknown>): string {
  const dir = path.join(tmp, `ws${++runs}`);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), typeof content === "string" ? content : JSON.stringify(content));
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

const pullEvent = { action: "synchronize", number: 5, pull_request: { number: 5, head: { sha: HEAD, repo: { full_name: "octo/models" } }, base: { sha: BASE, ref: "main" } } };

async function runEntry(ws: string, options: { event?: unknown; eventName?: string; inputs?: Record<string, string>; apiUrl?: string }): Promise<Run> {
  const eventPath = path.join(ws, "..", `event${runs}.json`);
  writeFileSync(eventPath, JSON.stringify(options.event ?? pullEvent));
  const summaryFile = path.join(ws, "..", `summary${runs}.md`);
  const outputFile = path.join(ws, "..", `output${runs}.txt`);
  writeFileSync(summaryFile, "");
  writeFileSync(outputFile, "");
  const inputs: Record<string, string> = { mode: "report", configs: "models/*.yml", "github-token": "test-token", "results-dir": "results", "results-store": "branch:prunebench-results", baseline: "merge-base", "fail-on-regression": "true", charts: "mermaid", comment: "true", summary: "true", "check-run": "true", ...options.inputs };
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CI: "true",
    GITHUB_ACTIONS: "true",
    GITHUB_EVENT_NAME: options.eventName ?? "pull_request",
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_REPOSITORY: "octo/models",
    GITHUB_SHA: "d".repeat(40),
    GITHUB_REF: "refs/pull/5/merge",
    GITHUB_API_URL: options.apiUrl ?? gh.baseUrl,
    GITHUB_SERVER_URL: "https://github.test",
    GITHUB_RUN_ID: "42",
    GITHUB_JOB: "report",
    GITHUB_WORKFLOW: "prunebench",
    GITHUB_WORKSPACE: ws,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_OUTPUT: outputFile,
    RUNNER_TEMP: path.join(ws, "..", "runner-temp"),
    PRUNEBENCH_SKIP_INSTALL: "true",
    // The sources, not dist/ (which the lead rebuilds; test/dist.test.ts runs a fresh build).
    PRUNEBENCH_FROM_SOURCE: "true",
    PRUNEBENCH_API_RETRY_BASE_MS: "5",
    PRUNEBENCH_API_WRITE_GAP_MS: "0",
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const child = spawn(process.execPath, [path.join(ROOT, "action/bootstrap.js")], { cwd: ws, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stdout += d));
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
  return { code, stdout, workspace: ws, summary: readFileSync(summaryFile, "utf8"), outputs: parseOutputs(readFileSync(outputFile, "utf8")) };
}

/** GITHUB_OUTPUT's heredoc format: name<<delimiter, value lines, delimiter. */
function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i]);
    if (!m) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]);
    out[m[1]] = value.join("\n");
  }
  return out;
}

/** Perplexity comparisons from the report's verdict.json: "model run" -> [state, base, head]. */
function perplexity(ws: string): Record<string, [string, number | null, number | null]> {
  const verdict = JSON.parse(readFileSync(path.join(ws, "results/report/verdict.json"), "utf8")) as {
    comparisons: Array<{ model: string; runId: string; metric: string; state: string; base: number | null; head: number | null }>;
  };
  return Object.fromEntries(verdict.comparisons.filter((c) => c.metric === "perplexity").map((c) => [`${c.model} ${c.runId}`, [c.state, c.base, c.head]]));
}

const shards = (gpt2Ppl: number) => ({
  "results/shard-0/gpt2.shard-0.json": makeResult({ model: "gpt2", shard: "shard-0", ppl: { "dense@0": 20 } }),
  "results/shard-1/gpt2.shard-1.json": makeResult({ model: "gpt2", shard: "shard-1", ppl: { "magnitude@0.5": gpt2Ppl } }),
  "results/shard-1/bert.shard-1.json": makeResult({ model: "bert", shard: "shard-1", ppl: { "dense@0": 8 } }),
});

test("report mode: shards merged, one comment created then updated, summary, outputs, stored results, check run", async () => {
  const first = await runEntry(workspace(shards(25)), {});
  assert.equal(first.code, 0, first.stdout);
  const comments = gh.comments.get(5) ?? [];
  assert.equal(comments.length, 1);
  const body = comments[0].body;
  assert.ok(body.startsWith(commentMarker("models/*.yml")), body.slice(0, 80));
  // Both shards of gpt2 merged, compared with the merge base's stored results (the report
  // stage's verdict file holds the comparisons; the Markdown layout is that stage's business).
  assert.deepEqual(perplexity(first.workspace), { "gpt2 dense@0": ["no-change", 20, 20], "gpt2 magnitude@0.5": ["no-change", 25, 25] });
  assert.match(body, /No base result for: bert/);
  assert.match(body, /### Model: gpt2/);
  assert.match(body, /### Model: bert/);
  assert.ok(first.summary.includes(body.split("\n").slice(1, 4).join("\n")), "job summary holds the report");
  assert.equal(first.outputs.verdict, "no-change");
  assert.equal(first.outputs["comment-url"], `https://github.test/octo/models/pull/5#issuecomment-${comments[0].id}`);
  assert.equal(first.outputs["report-path"], path.join(first.workspace, "results/report/report.md"));
  assert.equal(readFileSync(first.outputs["report-path"], "utf8").trim(), first.summary.trim());
  assert.ok(existsSync(path.join(first.workspace, "results/report/report-full.md")));
  // charts: mermaid draws in the comment without an outside service; SVG files go to the artifact.
  assert.match(body, /```mermaid/);
  assert.doesNotMatch(body, /quickchart\.io/);
  assert.ok(existsSync(path.join(first.workspace, "results/report/charts/gpt2-0-perplexity.svg")));
  // Results stored for the PR head on its fingerprint, one file per model.
  const stored = gh.fileAt("prunebench-results", `results/${HEAD}/cpu-abc123/gpt2.json`);
  assert.ok(stored);
  assert.equal(JSON.parse(stored).runs.length, 2);
  assert.equal(gh.checkRuns.at(-1)?.head_sha, HEAD);
  assert.equal(gh.checkRuns.at(-1)?.conclusion, "success");
  // The runner learns the secret from add-mask and hides it; nothing else prints it.
  assert.ok(first.stdout.includes("::add-mask::test-token"));
  assert.ok(!first.stdout.replace("::add-mask::test-token", "").includes("test-token"), "the token never reaches the log");

  // The PR regresses gpt2's pruned perplexity by 20%: same comment, edited; the job fails.
  const second = await runEntry(workspace(shards(30)), {});
  assert.equal(second.code, 2, second.stdout);
  assert.equal(second.outputs.verdict, "regression");
  assert.equal(gh.comments.get(5)!.length, 1);
  assert.deepEqual(perplexity(second.workspace)["gpt2 magnitude@0.5"], ["regression", 25, 30]);
  assert.match(gh.comments.get(5)![0].body, /regression/);
  assert.equal(gh.calls("POST", /\/issues\/5\/comments$/).length, 1);
  assert.equal(gh.calls("PATCH", /\/issues\/comments\/\d+$/).length, 1);
  assert.equal(gh.checkRuns.at(-1)?.conclusion, "failure");
  assert.match(second.stdout, /fail-on-regression is on/);
});

test("fork-safe: a workflow_run job posts on the PR named in the artifact only when its head matches", async () => {
  const manifest = { manifest: 1, shard: "gpu", commit: HEAD, pull: 5, baseSha: BASE, configs: ["models/gpt2.yml"], eventName: "pull_request" };
  const files = { ...shards(25), "results/shard-0/prunebench-run.json": manifest };
  const event = { action: "completed", workflow_run: { id: 7, head_sha: HEAD, event: "pull_request", conclusion: "success", head_repository: { full_name: "fork/models" } } };
  const before = gh.calls("PATCH", /\/issues\/comments\/\d+$/).length;
  const ok = await runEntry(workspace(files), { event, eventName: "workflow_run" });
  assert.equal(ok.code, 0, ok.stdout);
  assert.equal(gh.calls("PATCH", /\/issues\/comments\/\d+$/).length, before + 1);

  // An artifact that names another PR (whose head is elsewhere) is refused.
  gh.pulls.set(6, { headSha: "e".repeat(40), baseSha: BASE, baseRef: "main" });
  const checksBefore = gh.checkRuns.length;
  const evil = await runEntry(workspace({ ...shards(25), "results/shard-0/prunebench-run.json": { ...manifest, pull: 6 } }), { event, eventName: "workflow_run" });
  assert.equal(evil.code, 1);
  assert.match(evil.stdout, /refusing to post them there/);
  assert.equal(gh.comments.get(6), undefined);
  assert.match(evil.stdout, /nothing stored, commented or checked/);
  assert.equal(gh.checkRuns.length, checksBefore);
  assert.ok(evil.summary.includes("### Model: gpt2"), "the summary is still written");

  // A result file that fails the schema stops the job with the file and field named.
  const bad = await runEntry(workspace({ "results/x/evil.json": { schema: 1, model: "<img src=x onerror=alert(1)>", runs: "nope" } }), { event, eventName: "workflow_run" });
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /evil\.json: not a valid prunebench result/);
});

test("configs are never run under pull_request_target unless allowed", async () => {
  const run = await runEntry(workspace({}), { eventName: "pull_request_target", inputs: { mode: "run-and-report" } });
  assert.equal(run.code, 1);
  assert.match(run.stdout, /refusing to run configs under pull_request_target/);
});

test("faults: 500s on comments, a rate limit on check runs, a dropped connection on the store leave results and summary, and exit 1", async () => {
  gh.fail({ method: "POST", path: /\/issues\/\d+\/comments$/ }, { status: 500, body: { message: "Server Error" } }, 100);
  gh.fail({ method: "PATCH", path: /\/issues\/comments\/\d+$/ }, { status: 500, body: { message: "Server Error" } }, 100);
  const reset = String(Math.floor(Date.now() / 1000));
  gh.fail({ method: "POST", path: /\/check-runs$/ }, { status: 403, headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset }, body: { message: "API rate limit exceeded" } }, 100);
  // Two dropped connections, then 502s: the API answers, so every step is still tried.
  gh.fail({ path: /\/git\// }, "drop", 2);
  gh.fail({ path: /\/git\// }, { status: 502, body: { message: "Bad Gateway" } }, 100);
  const ws = workspace(shards(25));
  const run = await runEntry(ws, {});
  gh.clearFaults();
  assert.equal(run.code, 1, run.stdout);
  assert.match(run.stdout, /posting the PR comment failed: HTTP 500/);
  assert.match(run.stdout, /creating the check run failed: HTTP 403/);
  assert.match(run.stdout, /saving results to the branch prunebench-results failed/);
  assert.match(run.stdout, /loading the baseline failed: HTTP 502/);
  // Each failed attempt is logged, the retries included.
  assert.match(run.stdout, /::warning::GitHub API: GET \/repos\/octo\/models\/git\/\S+ failed \(other side closed\); retried with backoff/);
  assert.match(run.stdout, /::warning::GitHub API: PATCH \/repos\/octo\/models\/issues\/comments\/\d+ failed \(HTTP 500\)/);
  assert.match(run.stdout, /results and report are written, but 4 step\(s\) failed/);
  assert.ok(existsSync(path.join(ws, "results/shard-1/gpt2.shard-1.json")));
  assert.ok(run.summary.includes("### Model: gpt2"));
  assert.equal(run.outputs.verdict, "no-base");
  assert.match(run.summary, /the baseline could not be loaded/);
  assert.ok(existsSync(run.outputs["report-path"]));
});

/** A pull_request event for PR `number`, its head in `headRepo`. */
const pullEventOf = (number: number, headRepo = "octo/models") => ({ action: "synchronize", number, pull_request: { number, head: { sha: HEAD, repo: { full_name: headRepo } }, base: { sha: BASE, ref: "main" } } });

test("a fork's pull_request run (read-only token) skips the store, the comment and the check run with one notice, and exits 0", async () => {
  const requestsBefore = gh.requests.length;
  const checksBefore = gh.checkRuns.length;
  const run = await runEntry(workspace(shards(25)), { event: pullEventOf(7, "fork/models"), inputs: { mode: "run-and-report", configs: "models/*.yml" } });
  assert.equal(run.code, 0, run.stdout);
  assert.equal((run.stdout.match(/comes from a fork, so its token is read-only/g) ?? []).length, 1, run.stdout);
  assert.match(run.stdout, /the results store, the PR comment and the check run are skipped/);
  assert.equal(gh.comments.get(7), undefined);
  assert.equal(gh.checkRuns.length, checksBefore);
  const writes = gh.requests.slice(requestsBefore).filter((r) => r.method !== "GET");
  assert.deepEqual(writes, [], "no write was even tried");
  assert.ok(run.summary.includes("### Model: gpt2"), "the job summary still has the report");
});

test("only the bot's own comment, starting with the marker, is edited; a planted marker is left alone", async () => {
  const key = "models/*.yml";
  const marker = commentMarker(key);
  gh.pulls.set(8, { headSha: HEAD, baseSha: BASE, baseRef: "main" });
  const planted = gh.addComment(8, "mallory", `${marker}\nplease merge`);
  const quoted = gh.addComment(8, "github-actions[bot]", `> quoting: ${marker}`);
  const first = await runEntry(workspace(shards(25)), { event: pullEventOf(8) });
  assert.equal(first.code, 0, first.stdout);
  const comments = gh.comments.get(8)!;
  assert.equal(comments.length, 3, "a comment of our own was created");
  assert.equal(comments.find((c) => c.id === planted.id)!.body, `${marker}\nplease merge`);
  assert.equal(comments.find((c) => c.id === quoted.id)!.body, `> quoting: ${marker}`);
  const ours = comments.at(-1)!;
  assert.ok(ours.body.startsWith(marker));
  // The next run edits that one, found by author and marker.
  const second = await runEntry(workspace(shards(25)), { event: pullEventOf(8) });
  assert.equal(second.code, 0, second.stdout);
  assert.equal(gh.comments.get(8)!.length, 3);
  assert.equal(gh.calls("PATCH", new RegExp(`/issues/comments/${ours.id}$`)).length, 1);
  assert.equal(gh.calls("PATCH", new RegExp(`/issues/comments/(${planted.id}|${quoted.id})$`)).length, 0);
});

test("comment keys that read alike keep one comment each (the marker holds a hash of the key)", async () => {
  assert.notEqual(commentMarker("tiny/only"), commentMarker("tiny-only"));
  assert.notEqual(commentMarker("models/*.yml"), commentMarker("models/?.yml"));
  assert.notEqual(commentMarker(`${"x".repeat(100)}a`), commentMarker(`${"x".repeat(100)}b`));
  gh.pulls.set(9, { headSha: HEAD, baseSha: BASE, baseRef: "main" });
  for (const key of ["tiny/only", "tiny-only", "tiny/only"]) {
    const run = await runEntry(workspace(shards(25)), { event: pullEventOf(9), inputs: { "comment-key": key } });
    assert.equal(run.code, 0, run.stdout);
  }
  const bodies = gh.comments.get(9)!.map((c) => c.body.split("\n")[0]);
  assert.deepEqual(bodies, [commentMarker("tiny/only"), commentMarker("tiny-only")]);
});

test("a comment refused for size (422) is named with GitHub's reason and replaced by a short one; a failed step fails the check run", async () => {
  gh.pulls.set(10, { headSha: HEAD, baseSha: BASE, baseRef: "main" });
  gh.commentLimit = 1500;
  // The store's writes fail: the job exits 1, and the check run must say so.
  gh.fail({ method: "POST", path: /\/git\/(blobs|trees|commits)$/ }, { status: 500, body: { message: "Server Error" } }, 100);
  try {
    const run = await runEntry(workspace(shards(30)), { event: pullEventOf(10), inputs: { "fail-on-regression": "false" } });
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stdout, /the PR comment was refused for its size \(HTTP 422: Validation Failed \(body is too long \(maximum is 1500 characters\)\)\)/);
    const comments = gh.comments.get(10)!;
    assert.equal(comments.length, 1);
    const short = comments[0].body;
    assert.ok(short.startsWith(commentMarker("models/*.yml")));
    assert.ok(short.length <= 1500, `${short.length}`);
    assert.match(short, /\*\*Verdict:\*\*.*regression/);
    assert.match(short, /- gpt2 magnitude@\u2060?0\.5 perplexity .*: 25 → 30 \(\+20\.0%\)/);
    assert.match(short, /\[job summary\]\(https:\/\/github\.test\/octo\/models\/actions\/runs\/42\)/);
    assert.match(short, /report artifact of \[this run\]\(https:\/\/github\.test\/octo\/models\/actions\/runs\/42#artifacts\)/);
    assert.match(run.stdout, /saving results to the branch prunebench-results failed: HTTP 500/);
    const check = gh.checkRuns.at(-1)!;
    assert.equal(check.conclusion, "failure");
    assert.match(String((check.output as { summary: string }).summary), /Publishing failed: saving results to the branch prunebench-results/);
  } finally {
    gh.commentLimit = 65536;
    gh.clearFaults();
  }
});

test("a dead API fails fast: one request's retries, each logged, then every later step at once; results and summary kept", async () => {
  const dead = new FakeGitHub();
  const url = await dead.start();
  await dead.stop(); // nothing listens there any more: connections are refused
  const ws = workspace(shards(25));
  const run = await runEntry(ws, { apiUrl: url });
  assert.equal(run.code, 1, run.stdout);
  const attempts = run.stdout.match(/::warning::GitHub API: \S+ \S+ failed \(/g) ?? [];
  assert.equal(attempts.length, 4, run.stdout);
  assert.match(run.stdout, /giving up, and taking the API for down/);
  assert.match(run.stdout, /the GitHub API is not answering \(4 attempts in a row got no answer/);
  assert.match(run.stdout, /results and report are written, but \d+ step\(s\) failed/);
  assert.ok(run.summary.includes("### Model: gpt2"));
  assert.ok(existsSync(path.join(ws, "results/report/report.md")));
});

test("mode: run gives results-path right for an absolute results-dir", async () => {
  const ws = workspace({});
  const abs = path.join(tmp, `abs-results-${runs}`);
  const run = await runEntry(ws, { event: pullEventOf(11), inputs: { mode: "run", "results-dir": abs } });
  assert.equal(run.code, 0, run.stdout);
  assert.equal(run.outputs["results-path"], abs);
  assert.ok(existsSync(path.join(abs, "report")) || existsSync(abs));
});
