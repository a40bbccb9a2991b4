/**
 * The same small study twice: as `prunebench prune`, `finetune` and `eval` commands (real child
 * processes, each flag left out where the config leaves the key out) and as `prunebench run` of
 * the equivalent config. One request type per stage, with the config schema's defaults, makes
 * them the same study: equal masks, byte-equal weights, exactly equal perplexities.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildModel } from "../src/models/index.ts";
import { graphOf, readModel } from "../src/onnx/model.ts";
import { readFloat32 } from "../src/onnx/tensor.ts";
import { writeModel } from "../src/onnx/write.ts";
import { ResultSchema } from "../src/results/schema.ts";
import { loadMasks } from "../src/train/masks.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const tokenizer = path.join(root, "demo/tokenizer.json");

function cli(args: string[], cwd: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    // PRUNEBENCH_FROM_SOURCE: the installed entry point on the sources, not on a dist/ that may lag them.
    execFile(process.execPath, [path.join(root, "bin/prunebench.js"), ...args], { cwd, env: { ...process.env, PRUNEBENCH_FROM_SOURCE: "1" } }, (error, _stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
}

async function ok(args: string[], cwd: string): Promise<void> {
  const { code, stderr } = await cli(args, cwd);
  assert.equal(code, 0, `prunebench ${args.join(" ")}:\n${stderr}`);
}

/** Every float initializer's fp32 values, by name. */
function weights(file: string): Map<string, Buffer> {
  const model = readModel(file);
  return new Map(graphOf(model).initializer.filter((t) => t.dataType === 1).map((t) => [t.name, Buffer.from(readFloat32(model, t).data.buffer.slice(0))]));
}

function assertSameWeights(a: string, b: string, what: string): void {
  const wa = weights(a);
  const wb = weights(b);
  assert.deepEqual([...wa.keys()].sort(), [...wb.keys()].sort(), `${what}: the same initializers`);
  for (const [name, bytes] of wa) assert.ok(bytes.equals(wb.get(name)!), `${what}: ${name} differs`);
}

/** An artifact path as the journal stores it: "$OUT/..." inside the output folder (src/pipeline/journal.ts). */
function artifact(outDir: string, stored: string): string {
  return stored.startsWith("$OUT/") ? path.join(outDir, stored.slice("$OUT/".length)) : path.resolve(outDir, stored);
}

/** The value a journaled stage recorded (src/pipeline/journal.ts). */
function stageValue<T>(stagesDir: string, stage: string): T {
  for (const file of readdirSync(stagesDir)) {
    const record = JSON.parse(readFileSync(path.join(stagesDir, file), "utf8")) as { stage: string; value: T };
    if (record.stage === stage) return record.value;
  }
  throw new Error(`no stage ${stage} in ${stagesDir}`);
}

test("prune, finetune and eval commands give the masks, weights and perplexities of `prunebench run` on the same config", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-cli-vs-run-"));
  try {
    // A tiny untrained decoder with the demo tokenizer's 260 ids and 64 positions.
    writeModel(buildModel({ family: "decoder", preset: "tiny", sizes: { vocab: 260, layers: 1, dModel: 32, heads: 2, dFF: 64, positions: 64 }, seed: 7 }), path.join(dir, "model.onnx"));
    // Left to the defaults on both sides: fine-tuning's batch, warm-up, weight decay, validation
    // text and special ids; calibration's samples and window (cut to the 64 positions).
    writeFileSync(
      path.join(dir, "tiny.yml"),
      `name: tiny
model: { path: model.onnx, tokenizer: ${tokenizer} }
prune:
  methods: [magnitude, wanda]
  sparsity: [0.5]
finetune: { steps: 4, lr: 1e-3, seq_len: 16 }
eval:
  perplexity: { dataset: bundled/test, seq_len: 32, max_tokens: 600 }
  latency: false
`,
    );
    const cache = path.join(dir, "cache");
    await ok(["run", "tiny.yml", "--out", "run", "--cache", cache, "--no-report"], dir);
    const result = ResultSchema.parse(JSON.parse(readFileSync(path.join(dir, "run/results/tiny.json"), "utf8")));
    const runOut = path.join(dir, "run");
    const stages = path.join(runOut, "tiny/stages");
    const perplexityOf = (id: string) => {
      const run = result.runs.find((r) => r.id === id);
      assert.ok(run?.perplexity, `run ${id} measured: ${run?.error}`);
      return run.perplexity;
    };

    const evalFlags = ["--tokenizer", tokenizer, "--dataset", "bundled/test", "--seq-len", "32", "--max-tokens", "600", "--cache", cache];
    const cliPerplexity = async (model: string) => {
      const json = `${model}.eval.json`;
      await ok(["eval", model, ...evalFlags, "--json", json], dir);
      return (JSON.parse(readFileSync(path.join(dir, json), "utf8")) as { perplexity: { token: number; word: number; bitsPerByte: number; tokens: number } }).perplexity;
    };
    const same = (a: { token: number; word: number; bitsPerByte: number; tokens: number }, b: typeof a, what: string) =>
      assert.deepEqual({ token: a.token, word: a.word, bitsPerByte: a.bitsPerByte, tokens: a.tokens }, { token: b.token, word: b.word, bitsPerByte: b.bitsPerByte, tokens: b.tokens }, what);

    same(await cliPerplexity("model.onnx"), perplexityOf("dense"), "dense perplexity");
    const calibration = { wanda: ["--calibration", "bundled/train", "--tokenizer", tokenizer], magnitude: [] };
    for (const method of ["magnitude", "wanda"] as const) {
      const id = `${method}@0.5`;
      await ok(["prune", "model.onnx", "--method", method, "--sparsity", "0.5", "--out", `${method}.onnx`, "--mask", `${method}.mask`, "--cache", cache, ...calibration[method]], dir);
      await ok(["finetune", `${method}.onnx`, "--mask", `${method}.mask`, "--dataset", "bundled/train", "--tokenizer", tokenizer, "--steps", "4", "--lr", "1e-3", "--seq-len", "16", "--cache", cache, "--out", `${method}-ft.onnx`], dir);

      const pruned = stageValue<{ model: string; mask: string }>(stages, `prune:${id}`);
      const cliMasks = loadMasks(path.join(dir, `${method}.mask`));
      const runMasks = loadMasks(artifact(runOut, pruned.mask));
      assert.deepEqual([...cliMasks.keys()].sort(), [...runMasks.keys()].sort(), `${id}: the same weights masked`);
      for (const [name, mask] of cliMasks) assert.ok(Buffer.from(mask).equals(Buffer.from(runMasks.get(name)!)), `${id}: the mask of ${name} differs`);
      assertSameWeights(path.join(dir, `${method}.onnx`), artifact(runOut, pruned.model), `${id} pruned`);
      const tuned = stageValue<{ model: string }>(stages, `finetune:${id}`);
      assertSameWeights(path.join(dir, `${method}-ft.onnx`), artifact(runOut, tuned.model), `${id} fine-tuned`);

      same(await cliPerplexity(`${method}.onnx`), perplexityOf(id), `${id} perplexity`);
      same(await cliPerplexity(`${method}-ft.onnx`), perplexityOf(`${id}+ft`), `${id}+ft perplexity`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
