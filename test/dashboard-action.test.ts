/**
 * The Action's dashboard input end to end against the local GitHub API: results stored on the
 * data branch over several pushes, the page built from it in the order of the checkout's
 * history, and committed to gh-pages through the git data API (one commit a publish,
 * index.html updated in place, nothing when unchanged, other files of the branch kept).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { FakeGitHub, makeResult } from "./helpers/fake-github.ts";
import { runAction } from "../action/run-action.ts";
import { readInputs } from "../action/inputs.ts";
import type { Logger } from "../action/log.ts";
import { REGRESSION_COLOR } from "../src/report/charts/palette.ts";

const gh = new FakeGitHub();
let tmp: string;
let repo: string;
const commits: string[] = [];
let prHead: string;

const git = (...args: string[]) => execFileSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", ...args], { encoding: "utf8" }).trim();

/** A result whose latency samples are enough for the statistics (they stay unchanged: only perplexity moves). */
function result(ppl: number, commit: string) {
  const r = makeResult({ model: "gpt2", commit, ppl: { "dense@0": 20, "magnitude@0.5": ppl } }) as { runs: Array<{ latency: Array<{ samplesMs: number[] }> }> };
  for (const run of r.runs) for (const l of run.latency) l.samplesMs = Array.from({ length: 20 }, (_, i) => 10 + (i % 5) * 0.01);
  return r;
}

before(async () => {
  await gh.start();
  tmp = mkdtempSync(path.join(os.tmpdir(), "pb-dashboard-action-"));
  process.env.GITHUB_OUTPUT = path.join(tmp, "output.txt");
  writeFileSync(process.env.GITHUB_OUTPUT, "");
  // The project's checkout: four commits on main, and a PR branch whose head also has stored results.
  repo = path.join(tmp, "checkout");
  execFileSync("git", ["init", "-q", "-b", "main", repo]);
  for (const subject of ["Pin onnxruntime", "Tune Wanda", "Reorder <b>damping</b>", "Revert the damping"]) {
    git("commit", "-q", "--allow-empty", "-m", subject);
    commits.push(git("rev-parse", "HEAD"));
  }
  git("checkout", "-q", "-b", "pr", commits[0]);
  git("commit", "-q", "--allow-empty", "-m", "a PR commit");
  prHead = git("rev-parse", "HEAD");
  git("checkout", "-q", "main");
  git("reset", "-q", "--hard", commits[1]);
  // Results of earlier runs on the data branch; the PR head's too. A CNAME a person put on gh-pages.
  for (const [sha, ppl] of [[commits[0], 25], [commits[1], 25.1], [prHead, 40]] as const) {
    gh.commitFile("prunebench-results", `results/${sha}/cpu-abc123/gpt2.json`, JSON.stringify(result(ppl, sha)));
  }
  gh.commitFile("gh-pages", "CNAME", "bench.example.com\n");
});
after(async () => {
  await gh.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** A push of `commit` (checked out), whose job ran the configs and left their results. */
async function push(commit: number, ppl: number, inputs: Record<string, string> = {}, eventName = "push") {
  git("reset", "-q", "--hard", commits[commit]);
  const ws = repo;
  const results = path.join(ws, "results");
  rmSync(results, { recursive: true, force: true });
  mkdirSync(path.join(results, "shard-0"), { recursive: true });
  writeFileSync(path.join(results, "shard-0", "gpt2.shard-0.json"), JSON.stringify({ ...result(ppl, commits[commit]), shard: "shard-0" }));
  const event = path.join(tmp, "event.json");
  const pull = { number: 9, head: { sha: commits[commit], repo: { full_name: "octo/models" } }, base: { sha: commits[0], ref: "main" } };
  writeFileSync(event, JSON.stringify(eventName === "pull_request" ? { pull_request: pull } : { before: commits[commit - 1], after: commits[commit] }));
  gh.pulls.set(9, { headSha: commits[commit], baseSha: commits[0], baseRef: "main" });
  const env: NodeJS.ProcessEnv = {
    GITHUB_EVENT_NAME: eventName,
    GITHUB_EVENT_PATH: event,
    GITHUB_REPOSITORY: "octo/models",
    GITHUB_SHA: commits[commit],
    GITHUB_API_URL: gh.baseUrl,
    GITHUB_SERVER_URL: "https://github.test",
    GITHUB_WORKSPACE: ws,
    RUNNER_TEMP: path.join(tmp, "temp"),
    PRUNEBENCH_API_RETRY_BASE_MS: "5",
    PRUNEBENCH_API_WRITE_GAP_MS: "0",
    PRUNEBENCH_QUICKCHART_URL: "off",
  };
  const all = { mode: "report", "github-token": "test-token", "results-dir": "results", "results-store": "branch:prunebench-results", "fail-on-regression": "false", comment: "false", "check-run": "false", summary: "false", charts: "none", dashboard: "gh-pages", ...inputs };
  for (const [k, v] of Object.entries(all)) env[`INPUT_${k.toUpperCase()}`] = v;
  const lines: string[] = [];
  const log: Logger = { info: (m) => lines.push(m), warning: (m) => lines.push(`warning: ${m}`), error: (m) => lines.push(`error: ${m}`), debug: () => {} };
  const before = gh.requests.length;
  const code = await runAction({ env, log });
  const requests = gh.requests.slice(before);
  return { code, lines, requests, page: path.join(results, "dashboard", "index.html") };
}

const pagesWrites = (requests: typeof gh.requests) => requests.filter((r) => r.method !== "GET" && (/\/git\/refs\/heads\/gh-pages$/.test(r.path) || (r.path.endsWith("/git/refs") && String((r.body as { ref?: string }).ref).endsWith("/gh-pages"))));

test("gh-pages: each push stores its results and commits the page once; unchanged, no commit; other files of the branch kept", async () => {
  // Commit 2 raises magnitude's perplexity by 20%: a regression, marked at that commit.
  const first = await push(2, 30);
  assert.equal(first.code, 0, first.lines.join("\n"));
  assert.ok(gh.fileAt("prunebench-results", `results/${commits[2]}/cpu-abc123/gpt2.json`), "this push's results are stored first");
  const page = gh.fileAt("gh-pages", "index.html")!;
  assert.ok(page, first.lines.join("\n"));
  assert.equal(page, readFileSync(first.page, "utf8"), "the branch holds the page the job wrote");
  assert.equal(gh.fileAt("gh-pages", ".nojekyll"), "");
  assert.equal(gh.fileAt("gh-pages", "CNAME"), "bench.example.com\n");
  assert.equal(gh.branchLog("gh-pages").length, 2, "the CNAME commit and one commit of the page");
  assert.equal(gh.branchLog("gh-pages")[0].message, `prunebench dashboard at ${commits[2].slice(0, 12)}`);
  for (const sha of commits.slice(0, 3)) assert.ok(page.includes(`href="https://github.test/octo/models/commit/${sha}"`), sha);
  assert.ok(!page.includes(prHead), "the PR's head is not on main's history");
  assert.match(page, /1 stored commit not on this history/);
  assert.match(page, /commits in the order of the git history of HEAD \(first parent\)/);
  assert.match(page, /Reorder &lt;b&gt;damping&lt;\/b&gt;/);
  assert.ok(page.includes(`stroke="${REGRESSION_COLOR}"`), "the regression is ringed");
  assert.match(page, /class="regression"><td class="state-regression">regression<\/td><td><a href="https:\/\/github\.test\/octo\/models\/commit\/([0-9a-f]{40})"/);
  assert.equal(/class="regression"><td class="state-regression">regression<\/td><td><a href="https:\/\/github\.test\/octo\/models\/commit\/([0-9a-f]{40})"/.exec(page)![1], commits[2]);
  assert.match(readFileSync(process.env.GITHUB_OUTPUT!, "utf8"), new RegExp(`dashboard-path<<[^\\n]+\\n${first.page.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\n`));
  assert.equal(pagesWrites(first.requests).length, 1);

  const again = await push(2, 30);
  assert.equal(again.code, 0, again.lines.join("\n"));
  assert.equal(pagesWrites(again.requests).length, 0, "the same page is not committed again");
  assert.ok(again.lines.includes("dashboard: gh-pages already shows this page"), again.lines.join("\n"));
  assert.equal(gh.branchLog("gh-pages").length, 2);

  const next = await push(3, 25);
  assert.equal(next.code, 0, next.lines.join("\n"));
  assert.equal(gh.branchLog("gh-pages").length, 3, "one more commit, the page updated in place");
  const updated = gh.fileAt("gh-pages", "index.html")!;
  assert.ok(updated.includes(`commit/${commits[3]}`));
  assert.ok(updated.includes(`<tr class="improvement"><td class="state-improvement">improvement</td><td><a href="https://github.test/octo/models/commit/${commits[3]}"`), "the fix is called an improvement");
  assert.equal(gh.fileAt("gh-pages", "CNAME"), "bench.example.com\n");
});

test("a pull request never publishes the branch; artifact writes the page only; both read-only on gh-pages", async () => {
  const tip = gh.refs.get("heads/gh-pages");
  const pr = await push(3, 26, {}, "pull_request");
  assert.equal(pr.code, 0, pr.lines.join("\n"));
  assert.equal(pagesWrites(pr.requests).length, 0);
  assert.ok(pr.lines.some((l) => /gh-pages is published from runs on a branch .* not from pull requests/.test(l)), pr.lines.join("\n"));
  assert.match(readFileSync(pr.page, "utf8"), /prunebench dashboard: octo\/models/);
  const artifact = await push(3, 25, { dashboard: "artifact" });
  assert.equal(artifact.code, 0, artifact.lines.join("\n"));
  assert.equal(pagesWrites(artifact.requests).length, 0);
  assert.equal(gh.refs.get("heads/gh-pages"), tip);
  assert.ok(readFileSync(artifact.page, "utf8").includes(`commit/${commits[3]}`));
  // No store, no history to read: said, and the job goes on.
  const none = await push(3, 25, { dashboard: "artifact", "results-store": "none" });
  assert.ok(none.lines.some((l) => /warning: dashboard: there is no results store/.test(l)), none.lines.join("\n"));
});

test("dashboard inputs are checked: one of none, artifact, gh-pages; a branch of its own", () => {
  assert.equal(readInputs({}).dashboard, "none");
  assert.equal(readInputs({}).dashboardBranch, "gh-pages");
  assert.throws(() => readInputs({ INPUT_DASHBOARD: "pages" }), /input 'dashboard': expected one of none, artifact, gh-pages, got 'pages'/);
  assert.throws(() => readInputs({ "INPUT_DASHBOARD-BRANCH": "prunebench-results" }), /input 'dashboard-branch': 'prunebench-results' is the results store's branch/);
  assert.throws(() => readInputs({ "INPUT_DASHBOARD-BRANCH": "-x" }), /input 'dashboard-branch'/);
});
