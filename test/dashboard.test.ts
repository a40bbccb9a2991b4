/**
 * The dashboard without a browser: the store read into commit-ordered series (every order
 * source), regressions called between consecutive commits with the report's own comparison,
 * the page's escaping and links, and the CLI's checks. test/dashboard-browser.test.ts looks
 * at the page in Chromium; test/dashboard-action.test.ts publishes it from the Action.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { FakeGitHub, makeResult } from "./helpers/fake-github.ts";
import { createOctokit } from "../src/github/octokit.ts";
import { BranchStore, DirStore, GitRefStore, type ResultsStore } from "../src/github/store/index.ts";
import { buildDashboard, findChanges, gitHistory, loadHistory, parseRepo, readCommitsFile } from "../src/dashboard/index.ts";
import { inlineSvg } from "../src/dashboard/html.ts";
import { compareResults } from "../src/report/compare.ts";
import { DEFAULT_THRESHOLDS } from "../src/report/options.ts";
import { seededRandom, normalDraws } from "../src/util/random.ts";
import type { Result } from "../src/results/schema.ts";
import { parseResult } from "../src/results/read.ts";
import { runCli } from "./helpers/cli.ts";

const gh = new FakeGitHub();
let tmp: string;
before(async () => {
  await gh.start();
  tmp = mkdtempSync(path.join(os.tmpdir(), "pb-dashboard-"));
});
after(async () => {
  await gh.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const sha = (i: number) => i.toString(16).padStart(2, "0").repeat(20);
const FP = "cpu-abc123";

/** A result whose latency has `n` samples around `p50` (seeded), so the statistics have something to test. */
function result(model: string, options: { ppl?: Record<string, number>; p50?: Record<string, number>; seed?: number; createdAt?: string; fingerprint?: string; n?: number } = {}): Result {
  const ppl = options.ppl ?? { "dense@0": 20, "magnitude@0.5": 25 };
  const r = parseResult(JSON.stringify(makeResult({ model, ppl, fingerprint: options.fingerprint ?? FP })), model);
  const noise = normalDraws(seededRandom(options.seed ?? 1));
  for (const run of r.runs) {
    const p50 = options.p50?.[run.id] ?? 10;
    const samples = Array.from({ length: options.n ?? 30 }, () => p50 * (1 + 0.01 * noise()));
    run.latency = run.latency.map((l) => ({ ...l, samplesMs: samples, p50 }));
  }
  return { ...r, ...(options.createdAt ? { createdAt: options.createdAt } : {}) };
}

async function storeWith(dir: string, commits: Array<{ sha: string; results: Result[]; fingerprint?: string }>): Promise<DirStore> {
  const store = new DirStore(dir);
  for (const c of commits) await store.save({ commit: c.sha, fingerprint: c.fingerprint ?? FP }, c.results.map((r) => ({ name: `${r.model}.json`, content: JSON.stringify({ ...r, commit: c.sha }) })));
  return store;
}

function git(dir: string, ...args: string[]): string {
  return execFileSync("git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@t", ...args], { encoding: "utf8" }).trim();
}

test("store keys: folder, data branch (one tree request, then no listings) and a local clone's branch give the same keys and files", async () => {
  const dir = path.join(tmp, "keys");
  const commits = [1, 2, 3].map((i) => ({ sha: sha(i), results: [result("gpt2"), result("bert")] }));
  const folder = await storeWith(dir, commits);
  writeFileSync(path.join(dir, "results", "README.txt"), "not a key");
  const octokit = createOctokit({ token: "test-token", baseUrl: gh.baseUrl, pacing: { retryBaseMs: 5, writeGapMs: 0 } });
  const branch = new BranchStore({ octokit, owner: "octo", repo: "models", branch: "dash-keys", sleep: async () => {} });
  for (const c of commits) await branch.save({ commit: c.sha, fingerprint: FP }, await folder.load({ commit: c.sha, fingerprint: FP }));
  // A clone holding the same files on a branch, read with git itself.
  const clone = path.join(tmp, "clone");
  execFileSync("git", ["init", "-q", "-b", "main", clone]);
  execFileSync("cp", ["-r", path.join(dir, "results"), clone]);
  git(clone, "add", "results");
  git(clone, "commit", "-q", "-m", "results");
  git(clone, "branch", "prunebench-results");
  const local = new GitRefStore(clone, "prunebench-results");
  local.check();

  const sorted = async (s: ResultsStore) => (await s.keys()).map((k) => `${k.commit}/${k.fingerprint}`).sort();
  const expected = commits.map((c) => `${c.sha}/${FP}`);
  assert.deepEqual(await sorted(folder), expected);
  assert.deepEqual(await sorted(local), expected);
  const before = gh.requests.length;
  assert.deepEqual(await sorted(branch), expected);
  const files = await branch.load({ commit: sha(2), fingerprint: FP });
  assert.deepEqual(files.map((f) => f.name), ["bert.json", "gpt2.json"]);
  assert.deepEqual(files, await local.load({ commit: sha(2), fingerprint: FP }));
  assert.deepEqual(files, await folder.load({ commit: sha(2), fingerprint: FP }));
  const used = gh.requests.slice(before).map((r) => `${r.method} ${r.path.replace(/[0-9a-f]{40}/g, "<sha>")}`);
  assert.equal(used.filter((u) => u.includes("/contents/")).length, 0, used.join("\n"));
  assert.equal(used.filter((u) => u.includes("/git/trees/")).length, 1);
  assert.throws(() => new GitRefStore(clone, "missing").check(), /no branch 'missing' here/);
  await assert.rejects(local.save(), /read-only/);
});

test("history: the order given (short shas too), stored commits outside it counted, the newest --last kept, bad files named and skipped", async () => {
  const dir = path.join(tmp, "history");
  const store = await storeWith(dir, [1, 2, 3, 4, 5].map((i) => ({ sha: sha(i), results: [result("gpt2", { createdAt: `2026-01-0${6 - i}T00:00:00Z` })] })));
  writeFileSync(path.join(dir, "results", sha(3), FP, "broken.json"), JSON.stringify({ schema: 1, model: 7 }));
  const order = { commits: [sha(4), sha(1).slice(0, 7), sha(9), sha(3), sha(2)].map((s) => ({ sha: s })), source: "a test" };
  const h = await loadHistory({ store, order, last: 3 });
  assert.deepEqual(h.commits.map((c) => c.sha), [sha(1), sha(3), sha(2)]);
  assert.equal(h.older, 1);
  assert.equal(h.outside, 1, "commit 5 is stored but not in the order");
  assert.equal(h.order, "a test");
  assert.equal(h.warnings.length, 1);
  assert.match(h.warnings[0], new RegExp(`${sha(3)}/${FP}/broken\\.json: not a valid prunebench result.*model`));
  assert.deepEqual(h.runners.map((r) => [r.fingerprint, r.points.length]), [[FP, 3]]);
  // Without an order: by when the results were made (createdAt runs backwards here).
  const byTime = await loadHistory({ store });
  assert.deepEqual(byTime.commits.map((c) => c.sha), [5, 4, 3, 2, 1].map(sha));
  assert.match(byTime.order, /the time each commit's results were made/);
});

test("commit order from a commits file (newest first) and from git's first-parent history (merged branches left out)", () => {
  const list = path.join(tmp, "commits.txt");
  writeFileSync(list, `# newest first\n${sha(3)} Third <b>\n\n${sha(2)}\n${sha(1)} First\n`);
  const fromFile = readCommitsFile(list);
  assert.deepEqual(fromFile.commits.map((c) => [c.sha, c.subject]), [[sha(1), "First"], [sha(2), undefined], [sha(3), "Third <b>"]]);
  writeFileSync(list, `${sha(1)}\nnot-a-sha here\n`);
  assert.throws(() => readCommitsFile(list), /commits\.txt: line 2: expected a commit sha/);

  const repo = path.join(tmp, "repo");
  execFileSync("git", ["init", "-q", "-b", "main", repo]);
  git(repo, "commit", "-q", "--allow-empty", "-m", "one");
  git(repo, "checkout", "-q", "-b", "feature");
  git(repo, "commit", "-q", "--allow-empty", "-m", "on the branch");
  const side = git(repo, "rev-parse", "HEAD");
  git(repo, "checkout", "-q", "main");
  git(repo, "commit", "-q", "--allow-empty", "-m", "two");
  git(repo, "merge", "-q", "--no-ff", "-m", "merge feature", "feature");
  const h = gitHistory(repo);
  assert.deepEqual(h.commits.map((c) => c.subject), ["one", "two", "merge feature"]);
  assert.ok(!h.commits.some((c) => c.sha === side));
  assert.equal(h.shallow, false);
  assert.match(h.commits[0].date ?? "", /^\d{4}-\d\d-\d\dT/);
  assert.throws(() => gitHistory(repo, "nope"), /cannot read the git history of 'nope'/);
  // actions/checkout's default: one commit deep, which cannot order anything and says so.
  const shallow = path.join(tmp, "shallow");
  execFileSync("git", ["clone", "-q", "--depth", "1", pathToFileURL(repo).href, shallow]);
  const cut = gitHistory(shallow);
  assert.equal(cut.shallow, true);
  assert.deepEqual(cut.commits.map((c) => c.subject), ["merge feature"]);
  assert.throws(() => gitHistory(repo, "--all"), /not a revision/);
});

test("changes: the report's thresholds between consecutive commits on one runner; other runners never compared", async () => {
  const dir = path.join(tmp, "changes");
  const base = { "dense@0": 20, "magnitude@0.5": 25 };
  const store = await storeWith(dir, [
    { sha: sha(1), results: [result("gpt2", { ppl: base, seed: 1 })] },
    // +0.8% perplexity (within 1%), +3% latency (within 5%): nothing called.
    { sha: sha(2), results: [result("gpt2", { ppl: { ...base, "magnitude@0.5": 25.2 }, p50: { "dense@0": 10.3 }, seed: 2 })] },
    // +4% perplexity, +20% latency of dense: both regressions.
    { sha: sha(3), results: [result("gpt2", { ppl: { ...base, "magnitude@0.5": 26.2 }, p50: { "dense@0": 12 }, seed: 3 })] },
    // Another runner, twice as slow: a series of its own, compared with nothing of the first.
    { sha: sha(3), fingerprint: "cpu-other", results: [result("gpt2", { fingerprint: "cpu-other", p50: { "dense@0": 20, "magnitude@0.5": 20 }, seed: 4 })] },
    { sha: sha(4), results: [result("gpt2", { ppl: base, p50: { "dense@0": 12 }, seed: 5 })] },
  ]);
  const order = { commits: [1, 2, 3, 4].map((i) => ({ sha: sha(i) })), source: "test" };
  const history = await loadHistory({ store, order });
  const changes = findChanges(history, DEFAULT_THRESHOLDS);
  const seen = changes.map((c) => `${c.comparison.state} ${c.commit.sha.slice(0, 2)}<${c.previous.sha.slice(0, 2)} ${c.fingerprint} ${c.comparison.runId} ${c.comparison.metric}`);
  assert.deepEqual(seen.sort(), [
    `improvement 04<03 ${FP} magnitude@0.5 perplexity`,
    `regression 03<02 ${FP} dense@0 latency`,
    `regression 03<02 ${FP} magnitude@0.5 perplexity`,
  ]);
  // A looser latency threshold (25%) leaves the latency regression uncalled.
  const loose = findChanges(history, { ...DEFAULT_THRESHOLDS, latency: { ...DEFAULT_THRESHOLDS.latency, relative: 0.25 } });
  assert.ok(!loose.some((c) => c.comparison.metric === "latency"));
});

test("calledOnly leaves out only latency comparisons that could not be called: the same regressions and improvements as the full comparison", () => {
  const random = seededRandom(7);
  for (let trial = 0; trial < 30; trial++) {
    const shift = 0.85 + random() * 0.3;
    const n = 3 + Math.floor(random() * 30);
    const p50 = { "dense@0": 10, "magnitude@0.5": 10 * shift };
    const b = result("m", { seed: trial, n });
    const h = result("m", { seed: trial + 100, n: 3 + Math.floor(random() * 30), p50, ppl: { "dense@0": 20 * (0.98 + random() * 0.04), "magnitude@0.5": 25 } });
    const called = (v: ReturnType<typeof compareResults>) => v.comparisons.filter((c) => c.state === "regression" || c.state === "improvement").map((c) => `${c.runId} ${c.metric} ${c.state}`);
    assert.deepEqual(called(compareResults([h], [b], DEFAULT_THRESHOLDS, { calledOnly: true })), called(compareResults([h], [b], DEFAULT_THRESHOLDS)), `trial ${trial}`);
  }
});

test("the page: one file, no script, nothing fetched; commit links; every text from a commit or result escaped", async () => {
  const dir = path.join(tmp, "page");
  const evil = `<img src=x onerror=alert(1)>`;
  const plain = result("gpt2");
  const store = await storeWith(dir, [
    { sha: sha(1), results: [plain] },
    { sha: sha(2), results: [{ ...plain, runs: [...plain.runs, { ...plain.runs[1], id: `magnitude@0.5${evil}` }] }] },
    { sha: sha(3), results: [result("gpt2", { ppl: { "dense@0": 20, "magnitude@0.5": 30 } })] },
  ]);
  const order = { commits: [sha(1), sha(2), sha(3)].map((s, i) => ({ sha: s, subject: i === 2 ? `Fix "quotes" & ${evil}` : `commit ${i}` })), source: "list <i>x</i>" };
  const d = await buildDashboard({ store, order, repo: parseRepo("https://github.example.com/octo/models.git"), thresholds: DEFAULT_THRESHOLDS });
  assert.doesNotMatch(d.html, /<script|<img|<i>|onerror=alert\(1\)>/i);
  assert.match(d.html, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.match(d.html, /Fix &quot;quotes&quot; &amp; &lt;img/);
  assert.match(d.html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">/);
  for (const s of [sha(1), sha(2), sha(3)]) assert.ok(d.html.includes(`href="https://github.example.com/octo/models/commit/${s}"`), s);
  const hrefs = [...d.html.matchAll(/href="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(hrefs.every((h) => h.startsWith("#") || /^https:\/\/github\.example\.com\/octo\/models\/commit\/[0-9a-f]{40}$/.test(h)), hrefs.filter((h) => !h.startsWith("#")).join("\n"));
  // Each chart's ids are its own (Vega restarts its clip ids in every chart).
  const ids = [...d.html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(ids).size, ids.length, "no id twice in the page");
  assert.ok(d.charts >= 2);
  // The perplexity rise of commit 3 (25 to 30) is called and ringed.
  assert.ok(d.changes.some((c) => c.commit.sha === sha(3) && c.comparison.state === "regression" && c.comparison.metric === "perplexity"));
  assert.match(d.html, /Red rings: a regression against the previous commit/);
  assert.equal(inlineSvg(`<svg><clipPath id="clip1"/><g clip-path="url(#clip1)"/></svg>`, "c"), `<svg><clipPath id="c-clip1"/><g clip-path="url(#c-clip1)"/></svg>`);
  assert.deepEqual(parseRepo("octo/models"), { serverUrl: "https://github.com", owner: "octo", repo: "models" });
  assert.throws(() => parseRepo("javascript:alert(1)//x/y"), /--repo: expected owner\/name/);
});

test("prunebench dashboard: writes index.html; bad input is one line naming what is wrong, before any work", async () => {
  const dir = path.join(tmp, "cli-store");
  await storeWith(dir, [1, 2].map((i) => ({ sha: sha(i), results: [result("gpt2")] })));
  const list = path.join(tmp, "cli-commits.txt");
  writeFileSync(list, `${sha(2)} second\n${sha(1)} first\n`);
  const out = path.join(tmp, "cli-out");
  const ok = await runCli(["dashboard", `dir:${dir}`, "--out", out, "--commits", list, "--repo", "octo/models"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /dashboard: wrote .*index\.html: 2 commits, 1 runners, \d+ charts, 0 regressions/);
  const html = readFileSync(path.join(out, "index.html"), "utf8");
  assert.match(html, new RegExp(`href="https://github.com/octo/models/commit/${sha(2)}" title="second"`));

  const missing = await runCli(["dashboard", path.join(tmp, "nope"), "--out", out]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^error: .*nope: no such results store/);
  assert.equal(missing.stderr.split("\n").length, 1);
  const last = await runCli(["dashboard", dir, "--out", out, "--last", "0"]);
  assert.equal(last.code, 2);
  assert.match(last.stderr, /--last: expected a positive whole number/);
  const repo = await runCli(["dashboard", dir, "--out", out, "--repo", "not a repo"]);
  assert.equal(repo.code, 1);
  assert.match(repo.stderr, /--repo: expected owner\/name/);
  const conf = await runCli(["dashboard", dir, "--out", out, "--confidence", "2"]);
  assert.equal(conf.code, 2);
  assert.match(conf.stderr, /--confidence: expected a value between 0 and 1/);
  assert.equal(readFileSync(path.join(out, "index.html"), "utf8"), html, "a failed run leaves the page as it was");
});
