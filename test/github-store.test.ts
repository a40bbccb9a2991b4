import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { FakeGitHub, makeResult } from "./helpers/fake-github.ts";
import { createOctokit, type GitHub } from "../src/github/octokit.ts";
import { BranchStore, DirStore, parseStoreSpec } from "../src/github/store/index.ts";
import { findMergeBase, loadBaseline } from "../src/github/baseline.ts";

const gh = new FakeGitHub();
let octokit: GitHub;
const noSleep = async () => {};

before(async () => {
  await gh.start();
  octokit = createOctokit({ token: "test-token", baseUrl: gh.baseUrl, pacing: { retryBaseMs: 5, writeGapMs: 0 } });
});
after(() => gh.stop());

const file = (model: string, fingerprint = "cpu-abc123") => ({ name: `${model}.json`, content: JSON.stringify(makeResult({ model, fingerprint })) });

test("the first save creates the data branch; later saves add commits on top", async () => {
  const store = new BranchStore({ octokit, owner: "octo", repo: "models", branch: "prunebench-results", sleep: noSleep });
  await store.save({ commit: "a".repeat(40), fingerprint: "cpu-abc123" }, [file("gpt2"), file("bert")]);
  assert.equal(gh.calls("POST", /\/git\/refs$/).length, 1);
  await store.save({ commit: "b".repeat(40), fingerprint: "cpu-abc123" }, [file("gpt2")]);
  const log = gh.branchLog("prunebench-results");
  assert.equal(log.length, 2);
  assert.ok(gh.fileAt("prunebench-results", `results/${"a".repeat(40)}/cpu-abc123/bert.json`));
  assert.ok(gh.fileAt("prunebench-results", `results/${"b".repeat(40)}/cpu-abc123/gpt2.json`));
  const loaded = await store.load({ commit: "a".repeat(40), fingerprint: "cpu-abc123" });
  assert.deepEqual(loaded.map((f) => f.name), ["bert.json", "gpt2.json"]);
  assert.equal(JSON.parse(loaded[1].content).model, "gpt2");
  assert.deepEqual(await store.load({ commit: "c".repeat(40), fingerprint: "cpu-abc123" }), []);
});

test("a ref race (another job pushed first) is retried on the new tip and nothing is lost", async () => {
  const waits: number[] = [];
  const store = new BranchStore({ octokit, owner: "octo", repo: "models", branch: "prunebench-results", sleep: async (ms) => void waits.push(ms) });
  gh.raceRefUpdates = 2;
  const patchesBefore = gh.calls("PATCH", /\/git\/refs\//).length;
  await store.save({ commit: "d".repeat(40), fingerprint: "cpu-abc123" }, [file("pegasus")]);
  const patches = gh.calls("PATCH", /\/git\/refs\//).slice(patchesBefore);
  assert.deepEqual(patches.map((r) => r.status), [422, 422, 200]);
  assert.equal(waits.length, 2);
  // Both of the other job's commits and ours are on the branch.
  assert.equal(gh.branchLog("prunebench-results").filter((c) => c.message.startsWith("commit other/")).length, 2);
  assert.ok(gh.fileAt("prunebench-results", `results/${"d".repeat(40)}/cpu-abc123/pegasus.json`));
  assert.ok(gh.fileAt("prunebench-results", `results/${"a".repeat(40)}/cpu-abc123/gpt2.json`));
});

test("two shards saving at the same moment both land", async () => {
  const make = () => new BranchStore({ octokit, owner: "octo", repo: "models", branch: "race-branch", sleep: (ms) => new Promise((r) => setTimeout(r, ms / 20)) });
  await Promise.all([
    make().save({ commit: "e".repeat(40), fingerprint: "cpu-abc123" }, [file("shard0")]),
    make().save({ commit: "e".repeat(40), fingerprint: "cpu-abc123" }, [file("shard1")]),
    make().save({ commit: "e".repeat(40), fingerprint: "cpu-abc123" }, [file("shard2")]),
  ]);
  for (const s of ["shard0", "shard1", "shard2"]) assert.ok(gh.fileAt("race-branch", `results/${"e".repeat(40)}/cpu-abc123/${s}.json`), s);
});

test("a ref race that never ends gives up with the API's error", async () => {
  const store = new BranchStore({ octokit, owner: "octo", repo: "models", branch: "prunebench-results", sleep: noSleep, attempts: 3 });
  gh.raceRefUpdates = 10;
  await assert.rejects(store.save({ commit: "f".repeat(40), fingerprint: "cpu-abc123" }, [file("x")]), /not a fast forward/);
  gh.raceRefUpdates = 0;
});

test("baseline: merge base from the compare API, results on the same fingerprint, a note otherwise", async () => {
  const store = new BranchStore({ octokit, owner: "octo", repo: "models", branch: "prunebench-results", sleep: noSleep });
  gh.mergeBases.set(`${"9".repeat(40)}...${"8".repeat(40)}`, "a".repeat(40));
  const commit = await findMergeBase({ octokit, owner: "octo", repo: "models", base: "9".repeat(40), head: "8".repeat(40) });
  assert.equal(commit, "a".repeat(40));
  const same = await loadBaseline({ store, commit, fingerprint: "cpu-abc123" });
  assert.deepEqual(same.results?.map((r) => r.model).sort(), ["bert", "gpt2"]);
  const other = await loadBaseline({ store, commit, fingerprint: "cuda-h200" });
  assert.equal(other.results, undefined);
  assert.match(other.note ?? "", /only from other runners \(cpu-abc123\)/);
  const none = await loadBaseline({ store, commit: "7".repeat(40), fingerprint: "cpu-abc123" });
  assert.match(none.note ?? "", /no stored results for the merge base 777777777777/);
});

test("a stored file that fails the schema is a warning, not a crash", async () => {
  const store = new BranchStore({ octokit, owner: "octo", repo: "models", branch: "prunebench-results", sleep: noSleep });
  await store.save({ commit: "1".repeat(40), fingerprint: "cpu-abc123" }, [file("good"), { name: "bad.json", content: JSON.stringify({ schema: 1, model: 3 }) }]);
  const base = await loadBaseline({ store, commit: "1".repeat(40), fingerprint: "cpu-abc123" });
  assert.deepEqual(base.results?.map((r) => r.model), ["good"]);
  assert.match(base.warnings[0], /bad\.json: not a valid prunebench result[\s\S]*model/);
});

test("folder store: same layout on disk; keys that would leave the folder are refused", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-store-"));
  try {
    const store = new DirStore(dir);
    await store.save({ commit: "a".repeat(40), fingerprint: "cpu-abc123" }, [file("gpt2")]);
    assert.deepEqual((await store.load({ commit: "a".repeat(40), fingerprint: "cpu-abc123" })).map((f) => f.name), ["gpt2.json"]);
    assert.deepEqual(await store.fingerprints("a".repeat(40)), ["cpu-abc123"]);
    await assert.rejects(store.save({ commit: "..", fingerprint: "x" }, [file("y")]), /commit '\.\.'/);
    await assert.rejects(store.save({ commit: "a", fingerprint: "x" }, [{ name: "../../evil.json", content: "" }]), /file name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(parseStoreSpec("branch:prunebench-results"), { kind: "branch", branch: "prunebench-results" });
  assert.deepEqual(parseStoreSpec("dir:./results"), { kind: "dir", dir: "./results" });
  assert.throws(() => parseStoreSpec("s3:bucket"), /results-store: expected/);
});
