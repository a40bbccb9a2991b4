import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { evalCommand, jobFromOptions } from "../src/cli/eval.ts";
import { runInWorker } from "../src/eval/worker-client.ts";
import { readDataset } from "../src/data/index.ts";

const readDatasetText = (ref: string) => readDataset(ref, { cacheDir: "/nonexistent" });
import { createProgram } from "../src/cli.ts";
import { PerplexitySchema, RunnerSchema } from "../src/results/schema.ts";
import { SHARED_TOKENIZERS, TORCH_EXPORT, WIKITEXT_RAW, skipWithoutShared } from "./helpers/shared-data.ts";

const gpt2Tok = path.join(SHARED_TOKENIZERS, "gpt2");
const wiki = path.join(WIKITEXT_RAW, "wiki.test.raw");

test("eval options: perplexity needs a tokenizer and a dataset; bad numbers are named", () => {
  assert.throws(() => jobFromOptions("m.onnx", { dataset: "x" }), /--perplexity needs --tokenizer/);
  assert.throws(() => jobFromOptions("m.onnx", { tokenizer: "t", dataset: "x", seqLen: "zero" }), /--seq-len: expected an integer/);
  assert.throws(() => jobFromOptions("m.onnx", { tokenizer: "t", dataset: "x", seqLen: "64", stride: "65" }), /--stride 65 is longer/);
  assert.throws(() => jobFromOptions("m.onnx", { latency: true, provider: "tpu" }), /--provider: expected one of cpu, cuda/);
  const job = jobFromOptions("m.onnx", { latency: true, batch: "1,8", latencySeqLen: "128,512" });
  assert.equal(job.perplexity, undefined);
  assert.deepEqual(job.latency?.batch, [1, 8]);
  assert.deepEqual(job.latency?.seqLen, [128, 512]);
});

test("datasets: files, folders and src/data corpus references, with clear errors", async () => {
  const bundled = await readDatasetText("bundled/test");
  assert.equal(bundled.label, "bundled/test");
  assert.ok(bundled.text.length > 10_000);
  await assert.rejects(readDatasetText("/nonexistent/wiki.txt"), /dataset \/nonexistent\/wiki\.txt: not found/);
  await assert.rejects(readDatasetText("nope/test"), /unknown dataset "nope"/);
});

test("a job in a worker thread reports progress, and a stop request (what SIGINT sends) ends it with a partial result", { skip: skipWithoutShared(TORCH_EXPORT.gpt2, gpt2Tok, wiki) }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-eval-"));
  try {
    const text = path.join(dir, "slice.txt");
    writeFileSync(text, readFileSync(wiki, "utf8").slice(0, 20_000));
    const progress: number[] = [];
    const run = runInWorker(
      { model: TORCH_EXPORT.gpt2, perplexity: { tokenizer: gpt2Tok, dataset: text, seqLen: 32, stride: 16, cacheDir: dir } },
      { onProgress: (p) => progress.push(p.done) },
    );
    // Let a few batches through, then stop as SIGINT would; the main thread stayed free to do this.
    while (progress.length < 3) await new Promise((r) => setTimeout(r, 20));
    run.stop();
    const outcome = await run.result;
    assert.equal(outcome.partial, true);
    assert.equal(PerplexitySchema.parse(outcome.perplexity).partial, true);
    assert.ok(outcome.perplexity!.tokens < 10_000);
    RunnerSchema.parse(outcome.runner);
    assert.ok(progress.length >= 3);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("prunebench eval writes its result JSON and reports errors from the worker clearly", { skip: skipWithoutShared(TORCH_EXPORT.gpt2, gpt2Tok, wiki) }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-eval-cli-"));
  try {
    const text = path.join(dir, "slice.txt");
    writeFileSync(text, readFileSync(wiki, "utf8").slice(0, 3000));
    const json = path.join(dir, "out.json");
    let printed = "";
    const stdout = { write: (chunk: string) => (printed += chunk) };
    await evalCommand(TORCH_EXPORT.gpt2, { tokenizer: gpt2Tok, dataset: text, seqLen: "32", stride: "16", batchSize: "4", cache: dir, json }, { stdout });
    const out = JSON.parse(readFileSync(json, "utf8")) as { perplexity: unknown; family: string };
    assert.equal(out.family, "decoder");
    assert.equal(PerplexitySchema.parse(out.perplexity).protocol, "sliding-window");
    assert.match(printed, /perplexity \(sliding-window, seq 32, stride 16\): token \d+/);
    await assert.rejects(
      createProgram().parseAsync(["node", "prunebench", "eval", TORCH_EXPORT.gpt2, "--tokenizer", gpt2Tok, "--dataset", text, "--seq-len", "4096", "--cache", dir]),
      /--seq-len: 4096 is past the model's 128 positions \(transformer\.wpe\.weight/,
    );
    const short = path.join(dir, "short.txt");
    writeFileSync(short, "a few words only\n");
    await assert.rejects(
      createProgram().parseAsync(["node", "prunebench", "eval", TORCH_EXPORT.gpt2, "--tokenizer", gpt2Tok, "--dataset", short, "--seq-len", "64", "--cache", dir]),
      /shorter than one window/,
    );
  } finally {
    rmSync(dir, { recursive: true });
  }
});
