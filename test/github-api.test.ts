import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { FakeGitHub } from "./helpers/fake-github.ts";
import { createOctokit, type GitHub } from "../src/github/octokit.ts";
import { commentMarker, findComment, upsertComment } from "../src/github/comment.ts";
import { findChangedConfigs } from "../src/github/changed-configs.ts";
import { createCheckRun } from "../src/github/check-run.ts";

const gh = new FakeGitHub();
let octokit: GitHub;
const warnings: string[] = [];

before(async () => {
  await gh.start();
  octokit = createOctokit({ token: "test-token", baseUrl: gh.baseUrl, pacing: { retryBaseMs: 5, writeGapMs: 0 }, warn: (m) => warnings.push(m) });
});
after(() => gh.stop());

const target = (issue: number, key = "models") => ({ octokit, owner: "octo", repo: "models", issue, marker: commentMarker(key) });

test("the comment is created once, then updated in place, found again across pages", async () => {
  // 130 comments before ours: the marker must be found on page two of the listing.
  gh.comments.set(1, Array.from({ length: 130 }, (_, i) => ({ id: i + 1, body: `chatter ${i}`, user: { login: "someone" }, created_at: "", updated_at: "" })));
  const first = await upsertComment({ ...target(1), body: "report one" });
  assert.equal(first.action, "created");
  const second = await upsertComment({ ...target(1), body: "report two" });
  assert.equal(second.action, "updated");
  assert.equal(second.id, first.id);
  const ours = gh.comments.get(1)!.filter((c) => c.body.includes(commentMarker("models")));
  assert.equal(ours.length, 1);
  assert.match(ours[0].body, /report two/);
  assert.equal(gh.calls("POST", /\/issues\/1\/comments$/).length, 1);
  assert.equal(gh.calls("PATCH", /\/issues\/comments\/\d+$/).length, 1);
  // Each run listed both pages (100 + 31) to find the marker.
  const pages = gh.calls("GET", /\/issues\/1\/comments$/).map((r) => r.query.get("page") ?? "1");
  assert.deepEqual(pages, ["1", "2", "1", "2"]);
});

test("two config sets on one PR keep one comment each", async () => {
  await upsertComment({ ...target(2, "gpu"), body: "gpu report" });
  await upsertComment({ ...target(2, "cpu"), body: "cpu report" });
  await upsertComment({ ...target(2, "gpu"), body: "gpu report again" });
  const list = gh.comments.get(2)!;
  assert.equal(list.length, 2);
  assert.match(list[0].body, /gpu report again/);
  assert.match(list[1].body, /cpu report/);
  assert.equal((await findComment(target(2, "cpu")))?.id, list[1].id);
});

test("a body over 65,536 characters is refused before the API, and the API's 422 is surfaced", async () => {
  await assert.rejects(upsertComment({ ...target(3), body: "x".repeat(70_000) }), /over GitHub's limit of 65536/);
  assert.equal(gh.calls("POST", /\/issues\/3\/comments$/).length, 0);
  // The server's own check answers as GitHub does.
  await assert.rejects(
    octokit.rest.issues.createComment({ owner: "octo", repo: "models", issue_number: 3, body: "y".repeat(65_537) }),
    (e: { status: number; message: string }) => e.status === 422 && /body is too long/.test(e.message),
  );
});

test("changed configs come from every page of the files API; removed files are left out", async () => {
  const files = Array.from({ length: 250 }, (_, i) => ({ filename: `src/file${i}.ts`, status: "modified" }));
  files.push({ filename: "models/gpt2.yml", status: "modified" }, { filename: "models/bert.yml", status: "added" }, { filename: "models/old.yml", status: "removed" });
  files.push({ filename: "models/readme.md", status: "added" });
  gh.pullFiles.set(7, files);
  const changed = await findChangedConfigs({ octokit, owner: "octo", repo: "models", pull: 7, patterns: ["models/*.yml"] });
  assert.deepEqual(changed, [
    { path: "models/bert.yml", status: "added" },
    { path: "models/gpt2.yml", status: "modified" },
  ]);
  assert.equal(gh.calls("GET", /\/pulls\/7\/files$/).length, 3);
});

test("500s are retried and the request succeeds", async () => {
  gh.fail({ method: "POST", path: /\/check-runs$/ }, { status: 502, body: { message: "Bad Gateway" } }, 2);
  const before = gh.calls("POST", /\/check-runs$/).length;
  const run = await createCheckRun({ octokit, owner: "octo", repo: "models", headSha: "a".repeat(40), name: "prunebench", verdict: "regression", failOnRegression: true, title: "t", text: "body" });
  assert.ok(run.id > 0);
  assert.equal(gh.calls("POST", /\/check-runs$/).length - before, 3);
  assert.equal(gh.checkRuns.at(-1)?.conclusion, "failure");
});

test("a dropped connection is retried", async () => {
  gh.pulls.set(9, { headSha: "h", baseSha: "b", baseRef: "main" });
  gh.fail({ method: "GET", path: /\/pulls\/9$/ }, "drop", 1);
  const { data } = await octokit.rest.pulls.get({ owner: "octo", repo: "models", pull_number: 9 });
  assert.equal(data.head.sha, "h");
  assert.equal(gh.calls("GET", /\/pulls\/9$/).length, 2);
});

test("primary (403, remaining 0), secondary (403 + retry-after) and 429 limits wait and retry", async () => {
  gh.pulls.set(10, { headSha: "h10", baseSha: "b", baseRef: "main" });
  const reset = String(Math.floor(Date.now() / 1000));
  gh.fail({ path: /\/pulls\/10$/ }, { status: 403, headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset }, body: { message: "API rate limit exceeded for installation." } });
  gh.fail({ path: /\/pulls\/10$/ }, { status: 403, headers: { "retry-after": "1" }, body: { message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again." } });
  gh.fail({ path: /\/pulls\/10$/ }, { status: 429, headers: { "retry-after": "1" }, body: { message: "Too Many Requests" } });
  warnings.length = 0;
  const { data } = await octokit.rest.pulls.get({ owner: "octo", repo: "models", pull_number: 10 });
  assert.equal(data.head.sha, "h10");
  assert.equal(gh.calls("GET", /\/pulls\/10$/).length, 4);
  assert.ok(warnings.some((w) => /primary rate limit/.test(w)), warnings.join("\n"));
  assert.ok(warnings.some((w) => /secondary rate limit/.test(w)), warnings.join("\n"));
});

test("a rate limit that does not lift ends in an error instead of waiting forever", async () => {
  gh.pulls.set(11, { headSha: "h11", baseSha: "b", baseRef: "main" });
  const reset = String(Math.floor(Date.now() / 1000));
  gh.fail({ path: /\/pulls\/11$/ }, { status: 403, headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset }, body: { message: "API rate limit exceeded" } }, 10);
  await assert.rejects(octokit.rest.pulls.get({ owner: "octo", repo: "models", pull_number: 11 }), (e: { status: number }) => e.status === 403);
  assert.equal(gh.calls("GET", /\/pulls\/11$/).length, 4);
});
