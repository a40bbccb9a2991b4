import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { runCli } from "./helpers/cli.ts";

const FIXTURES = path.resolve(import.meta.dirname, "fixtures/results");
const NAMES = ["bert-base-uncased", "gpt2", "pegasus-large"];

test("prunebench report writes the Markdown and the verdict, and fails on a regression when asked", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "report-cli-"));
  try {
    const head = NAMES.map((n) => path.join(FIXTURES, `${n}.json`));
    const base = NAMES.map((n) => path.join(FIXTURES, "base", `${n}.json`));
    const out = path.join(dir, "report.md");
    const json = path.join(dir, "verdict.json");
    const ok = await runCli(["report", ...head, "--base", ...base, "--out", out, "--json", json, "--charts", "mermaid", "--id", "pr-7"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(readFileSync(out, "utf8"), /^<!-- prunebench-report:pr-7\.[0-9a-f]{12} -->/);
    assert.equal(JSON.parse(readFileSync(json, "utf8")).state, "regression");
    const fail = await runCli(["report", ...head, "--base", ...base, "--out", out, "--fail-on-regression"]);
    assert.equal(fail.code, 4);
    assert.match(fail.stderr, /regression found/);
    // The same files with a looser latency threshold: only the perplexity regression remains.
    const loose = await runCli(["report", ...head, "--base", ...base, "--out", out, "--json", json, "--latency-threshold", "20%"]);
    assert.equal(loose.code, 0);
    const v = JSON.parse(readFileSync(json, "utf8"));
    assert.equal(v.counts.regression, 1);
    // No base: no regression to fail on.
    assert.equal((await runCli(["report", ...head, "--out", out, "--fail-on-regression"])).code, 0);
    assert.match(readFileSync(out, "utf8"), /no base results to compare with/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("prunebench report: a bad result file is named with its field; bad options are refused", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "report-cli-"));
  try {
    const bad = path.join(dir, "bad.json");
    const good = JSON.parse(readFileSync(path.join(FIXTURES, "gpt2.json"), "utf8"));
    good.runs[3].latency[0].p50 = "fast";
    writeFileSync(bad, JSON.stringify(good));
    const r = await runCli(["report", bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: .*runs\\[3\\]\\.latency\\[0\\]\\.p50: .*number`));
    writeFileSync(bad, "{ not json");
    assert.match((await runCli(["report", bad])).stderr, /bad\.json: not valid JSON/);
    assert.match((await runCli(["report", path.join(dir, "missing.json")])).stderr, /missing\.json: cannot read \(ENOENT\)/);
    const modes = await runCli(["report", path.join(FIXTURES, "gpt2.json"), "--charts", "pie"]);
    assert.equal(modes.code, 2);
    assert.match(modes.stderr, /--charts: expected one of quickchart, mermaid, none, local/);
    assert.equal(existsSync(path.join(dir, "report.md")), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("report: --charts none writes no chart files, --max-chars below the floor names it, a newer result schema says upgrade", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "report-cli-"));
  try {
    const head = NAMES.map((n) => path.join(FIXTURES, `${n}.json`));
    const assets = path.join(dir, "assets");
    const none = await runCli(["report", ...head, "--out", path.join(dir, "r.md"), "--charts", "none", "--assets", assets]);
    assert.equal(none.code, 0, none.stderr);
    assert.ok(existsSync(path.join(assets, "report-full.md")));
    assert.ok(!existsSync(path.join(assets, "charts")), "no chart files with --charts none");
    assert.match(none.stderr, /wrote 0 charts/);

    const out = path.join(dir, "tiny.md");
    const tiny = await runCli(["report", ...head, "--out", out, "--max-chars", "10"]);
    assert.equal(tiny.code, 2, tiny.stderr);
    const floor = /--max-chars 10: the shortest this report can be is (\d+) characters \(its marker, title, verdict and worst comparison\); give at least \1/.exec(tiny.stderr);
    assert.ok(floor, tiny.stderr);
    assert.ok(!existsSync(out), "nothing written");
    const atFloor = await runCli(["report", ...head, "--out", out, "--max-chars", floor[1]]);
    assert.equal(atFloor.code, 0, atFloor.stderr);
    assert.ok(readFileSync(out, "utf8").length <= Number(floor[1]));

    const newer = path.join(dir, "newer.json");
    writeFileSync(newer, JSON.stringify({ ...JSON.parse(readFileSync(head[1], "utf8")), schema: 2, somethingNew: true }));
    const upgrade = await runCli(["report", newer]);
    assert.notEqual(upgrade.code, 0);
    assert.match(upgrade.stderr, /newer\.json: written by a newer prunebench \(result schema 2; this version reads schema 1\): upgrade prunebench to read it/);
    assert.equal(upgrade.stderr.trim().split("\n").length, 1, upgrade.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
