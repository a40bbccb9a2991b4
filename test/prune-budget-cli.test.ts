import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../src/cli.ts";
import type { BudgetCommandResult } from "../src/cli/prune-budget.ts";
import { resolveCorpus } from "../src/data/resolve.ts";
import { maxBudgetEvaluations } from "../src/prune/budget.ts";
import { readMaskFile } from "../src/prune/index.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const decoder = path.join(root, "demo/models/decoder.onnx");
const tokenizer = path.join(root, "demo/tokenizer.json");

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [log, error] = [console.log, console.error];
  let stdout = "";
  let stderr = "";
  console.log = (...args: unknown[]) => void (stdout += `${args.join(" ")}\n`);
  console.error = (...args: unknown[]) => void (stderr += `${args.join(" ")}\n`);
  try {
    return { code: await main(["node", "prunebench", ...argv]), stdout, stderr };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

test("prunebench prune --budget: prints the found sparsity, writes that model, and the bracket's far end is beyond the budget", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-prune-budget-"));
  const { corpus, split } = await resolveCorpus("bundled/test", { configDir: dir, cacheDir: path.join(dir, "cache") });
  const text = corpus.split(split);
  const dataset = path.join(dir, "test.txt");
  writeFileSync(dataset, text.slice(0, text.lastIndexOf(" ", 5000)));
  const out = path.join(dir, "pruned.onnx");
  const args = ["prune", decoder, "--method", "magnitude", "--budget", "5%", "--tolerance", "0.05", "--dataset", dataset, "--tokenizer", tokenizer, "--seq-len", "64", "--stride", "32"];
  const { code, stdout, stderr } = await cli([...args, "--out", out, "--mask", path.join(dir, "pruned.mask"), "--json", path.join(dir, "budget.json"), "--cache", path.join(dir, "cache")]);
  assert.equal(code, 0, stderr);
  const report = JSON.parse(readFileSync(path.join(dir, "budget.json"), "utf8")) as BudgetCommandResult;
  const { within, beyond } = report.search;
  assert.ok(within.sparsity > 0 && within.increase <= 0.05, `within: ${JSON.stringify(within)}`);
  assert.ok(beyond && beyond.increase > 0.05 && Math.abs(beyond.sparsity - within.sparsity - 0.05) < 1e-9, `beyond: ${JSON.stringify(beyond)}`);
  assert.ok(report.search.evaluations <= maxBudgetEvaluations(0.05), `${report.search.evaluations} evaluations`);
  assert.match(stdout, new RegExp(`^magnitude: ${Math.round(within.sparsity * 100)}% within \\+5% perplexity \\(bracket .*, ${report.search.evaluations} evaluations\\) -> `, "m"));
  assert.equal(report.result!.sparsity, within.sparsity);
  assert.equal(readMaskFile(path.join(dir, "pruned.mask")).header.sparsity, within.sparsity, "the mask written is the found sparsity's");

  for (const [extra, message] of [
    [["--sparsity", "0.5"], /leave out --sparsity/],
    [["--method", "nm"], /fixes or shapes its sparsity/],
  ] as const) {
    const bad = await cli([...args, ...extra, "--out", path.join(dir, "x.onnx")]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, message);
  }
  const noData = await cli(["prune", decoder, "--method", "magnitude", "--budget", "2%", "--tokenizer", tokenizer, "--out", path.join(dir, "x.onnx")]);
  assert.equal(noData.code, 2);
  assert.match(noData.stderr, /--budget needs --dataset/);
  const badBudget = await cli(["prune", decoder, "--method", "magnitude", "--budget", "two", "--out", path.join(dir, "x.onnx")]);
  assert.equal(badBudget.code, 2);
  assert.match(badBudget.stderr, /--budget: expected a perplexity increase/);
});
