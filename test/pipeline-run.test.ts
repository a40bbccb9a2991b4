import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runConfigs } from "../src/pipeline/index.ts";
import { silentProgress } from "../src/pipeline/progress.ts";
import { ResultSchema, type Result } from "../src/results/schema.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** A reduced demo: the bundled decoder, magnitude at two sparsities, a few fine-tuning steps. */
function reducedDemo(dir: string): string {
  const file = path.join(dir, "decoder.yml");
  writeFileSync(
    file,
    `name: demo-decoder
model:
  path: ${path.join(root, "demo/models/decoder.onnx")}
  tokenizer: ${path.join(root, "demo/tokenizer.json")}
prune:
  methods: [magnitude]
  sparsity: [0.3, 0.6]
finetune: { steps: 4, batch: 4, seq_len: 32, lr: 1e-3 }
eval:
  perplexity: { dataset: bundled/test, seq_len: 64, stride: 32, max_tokens: 1200 }
  latency: { batch: [1], seq_len: [32], budget_ms: 100, warmup: 1 }
`,
  );
  return file;
}

function perplexities(result: Result): Record<string, number | undefined> {
  return Object.fromEntries(result.runs.map((r) => [r.id, r.perplexity?.token]));
}

let uninterrupted: Result | undefined;

test("a reduced demo runs end to end: analysis, dense, prune sweep, fine-tune, evaluation, report", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-pipeline-"));
  const out = path.join(dir, "out");
  const done = await runConfigs({ configs: [reducedDemo(dir)], outDir: out, cacheDir: path.join(dir, "cache"), progress: silentProgress, charts: "local" });
  const result = ResultSchema.parse(JSON.parse(readFileSync(path.join(out, "results/demo-decoder.json"), "utf8")));
  uninterrupted = result;
  assert.deepEqual(
    result.runs.map((r) => r.id),
    ["dense", "dense+ft", "magnitude@0.3", "magnitude@0.3+ft", "magnitude@0.6", "magnitude@0.6+ft"],
  );
  for (const run of result.runs) {
    assert.equal(run.error, undefined, `${run.id}: ${run.error}`);
    assert.ok(run.perplexity && run.perplexity.token > 1 && run.perplexity.token < 260, `${run.id} perplexity ${run.perplexity?.token}`);
    assert.ok(run.latency.length === 1 && run.latency[0].samplesMs.length > 0);
  }
  const dense = result.runs[0];
  const pruned = result.runs.find((r) => r.id === "magnitude@0.6")!;
  assert.ok(Math.abs(pruned.achievedSparsity - 0.6) < 1e-3);
  assert.ok(pruned.nonzeroParams < dense.nonzeroParams, "pruning leaves fewer non-zero parameters");
  assert.ok(pruned.perplexity!.token > dense.perplexity!.token, "60% magnitude pruning costs perplexity on a trained model");
  const tuned = result.runs.find((r) => r.id === "magnitude@0.6+ft")!;
  assert.equal(tuned.finetuned, true);
  assert.equal(tuned.nonzeroParams, pruned.nonzeroParams, "fine-tuning keeps the mask");
  // The control: the dense model fine-tuned with the same recipe. No fine-tuned run ends worse
  // on validation than it started (the best weights are kept, step 0 included).
  const control = result.runs.find((r) => r.id === "dense+ft")!;
  assert.equal(control.finetuned, true);
  assert.equal(control.nonzeroParams, dense.nonzeroParams);
  for (const run of result.runs.filter((r) => r.finetuned)) {
    assert.ok(run.finetune!.lossEnd! <= run.finetune!.lossStart!, `${run.id}: validation ${run.finetune!.lossStart} -> ${run.finetune!.lossEnd}`);
    assert.equal(run.finetune!.validation, "bundled/train, last 10% held out");
    assert.ok(run.finetune!.bestStep! >= 0 && run.finetune!.bestStep! <= 4);
  }
  assert.ok(result.analysis && result.analysis.params.total > 0);
  const report = readFileSync(done.reportFile!, "utf8");
  for (const heading of ["### Model: demo-decoder", "### Weights", "### Per layer"]) assert.ok(report.includes(heading), `report has ${heading}`);
  assert.match(report, /\| dense \+ fine-tune \| 0% \|/);
  assert.match(report, /\| vs dense \+ fine-tune \|/);
  assert.ok(readdirSync(path.join(out, "charts")).some((f) => f.endsWith(".svg")));
});

test("a run killed with SIGKILL resumes without redoing finished stages and gives the same perplexities", async (t) => {
  if (!uninterrupted) return t.skip("needs the end-to-end test's result");
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-resume-"));
  const config = reducedDemo(dir);
  const out = path.join(dir, "out");
  const stages = path.join(out, "demo-decoder", "stages");
  const cli = (onStage?: () => boolean) =>
    new Promise<number | null>((resolve) => {
      // PRUNEBENCH_FROM_SOURCE: the installed entry point on the sources, not on a dist/ that may lag them.
      const child = spawn(process.execPath, [path.join(root, "bin/prunebench.js"), "run", config, "--out", out, "--cache", path.join(dir, "cache"), "--no-report"], { stdio: "ignore", env: { ...process.env, PRUNEBENCH_FROM_SOURCE: "1" } });
      const timer = onStage
        ? setInterval(() => {
            if (onStage()) {
              child.kill("SIGKILL");
              clearInterval(timer);
            }
          }, 20)
        : undefined;
      child.on("exit", (code) => {
        if (timer) clearInterval(timer);
        resolve(code);
      });
    });
  // Kill as soon as the first pruned model's stage is recorded: analysis, dense and one prune are done.
  await cli(() => existsSync(stages) && readdirSync(stages).some((f) => f.startsWith("prune_magnitude")));
  const before = new Map(readdirSync(stages).map((f) => [f, statSync(path.join(stages, f)).mtimeMs]));
  assert.ok(before.size >= 3, `stages finished before the kill: ${[...before.keys()].join(", ")}`);
  assert.equal(await cli(), 0);
  for (const [file, mtime] of before) assert.equal(statSync(path.join(stages, file)).mtimeMs, mtime, `${file} was not redone`);
  const resumed = ResultSchema.parse(JSON.parse(readFileSync(path.join(out, "results/demo-decoder.json"), "utf8")));
  assert.deepEqual(perplexities(resumed), perplexities(uninterrupted));
});
