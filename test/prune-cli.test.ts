import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { main } from "../src/cli.ts";
import { pathFor, parseSparsities } from "../src/cli/prune.ts";
import { PruneReportSchema, methodFromSpec, readMaskFile, runId } from "../src/prune/index.ts";
import { TORCH_EXPORT, skipWithoutShared } from "./helpers/shared-data.ts";

async function quietly<T>(fn: () => Promise<T>): Promise<{ value: T; stderr: string }> {
  const original = console.error;
  let stderr = "";
  console.error = (...args: unknown[]) => {
    stderr += `${args.join(" ")}\n`;
  };
  try {
    return { value: await fn(), stderr };
  } finally {
    console.error = original;
  }
}

test("prunebench prune: several sparsities, mask files and one JSON document", { skip: skipWithoutShared(TORCH_EXPORT.pegasus) }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-prune-cli-"));
  try {
    const argv = ["node", "prunebench", "prune", TORCH_EXPORT.pegasus, "--method", "global", "--sparsity", "0.3,0.6", "--include", "*.attn.*", "*.mlp.*"];
    const out = ["--out", path.join(dir, "p.onnx"), "--mask", path.join(dir, "p.mask"), "--json", path.join(dir, "r.json")];
    const { value: code, stderr } = await quietly(() => main([...argv, ...out]));
    assert.equal(code, 0, stderr);
    for (const s of ["0.3", "0.6"]) {
      assert.ok(existsSync(path.join(dir, `p-s${s}.onnx`)));
      assert.equal(readMaskFile(path.join(dir, `p-s${s}.mask`)).header.sparsity, Number(s));
    }
    const report = PruneReportSchema.parse(JSON.parse(readFileSync(path.join(dir, "r.json"), "utf8")));
    assert.deepEqual(
      report.results.map((r) => [r.method, r.sparsity, r.matrices.length]),
      [
        ["global", 0.3, 32],
        ["global", 0.6, 32],
      ],
    );
    assert.ok(report.results.every((r) => r.matrices.every((m) => m.shape.length === 2)), "biases stay dense");
    assert.match(stderr, /prune global @ 0.6: .* zeroed \(achieved 60\.00%\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("prunebench prune: bad input exits non-zero with one clear line", { skip: skipWithoutShared(TORCH_EXPORT.gpt2) }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-prune-cli-"));
  try {
    const base = ["node", "prunebench", "prune", TORCH_EXPORT.gpt2, "--out", path.join(dir, "x.onnx")];
    const cases: [string[], RegExp][] = [
      [["--method", "nm", "--nm", "5:4"], /N = 5 > M = 4/],
      [["--method", "magnitude", "--sparsity", "1"], /--sparsity: expected fractions in \[0, 1\)/],
      [["--method", "magnitude", "--sparsity", "0.5", "--include", "*.nope.*"], /no float weight matches include/],
      [["--method", "bogus", "--sparsity", "0.5"], /unknown pruning method "bogus"/],
      [["--method", "random", "--nm", "2:4", "--sparsity", "0.5"], /--nm is an option of --method nm/],
      [["--method", "global", "--sparsity", "0.5", "--engine", "gpu"], /--engine: expected auto, stream or memory/],
      [["--method", "global", "--sparsity", "0.5", "--engine", "stream"], /cannot prune streamed: the output is written inline/],
    ];
    for (const [args, pattern] of cases) {
      const { value: code, stderr } = await quietly(() => main([...base, ...args]));
      assert.notEqual(code, 0, args.join(" "));
      assert.match(stderr, pattern, args.join(" "));
      assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("output paths per sparsity and sparsity lists", () => {
  assert.equal(pathFor("out/p.onnx", 0.5, false), "out/p.onnx");
  assert.equal(pathFor("out/p.onnx", 0.5, true), "out/p-s0.5.onnx");
  assert.equal(pathFor("out/p-{sparsity}.onnx", 0.7, true), "out/p-0.7.onnx");
  assert.deepEqual(parseSparsities("0.1, 0.5,0.9"), [0.1, 0.5, 0.9]);
  assert.throws(() => parseSparsities("0.5,-1"), /--sparsity/);
});

test("config method entries map to method and options; run ids are stable", () => {
  assert.deepEqual(methodFromSpec("magnitude"), { method: "magnitude", options: {} });
  assert.deepEqual(methodFromSpec({ magnitude: { scope: "global" } }), { method: "magnitude", options: { scope: "global" } });
  assert.deepEqual(methodFromSpec({ nm: "2:4" }), { method: "nm", options: { pattern: "2:4" } });
  assert.throws(() => methodFromSpec({ nope: null } as never), /unknown pruning method "nope"/);
  assert.equal(runId({ method: "nm", options: { pattern: "2:4" }, sparsity: 0.5 }), "nm:2:4@0.5");
  assert.equal(runId({ method: "magnitude", options: { scope: "global" }, sparsity: 0.3 }), "magnitude:global@0.3");
  assert.equal(runId({ method: "random", options: {}, sparsity: 0.1 + 0.2 }), "random@0.3");
  // Each method's optionKey says what a single value is; its runIdParts keep its variants apart.
  assert.deepEqual(methodFromSpec({ wanda: "2:4" }), { method: "wanda", options: { nm: "2:4" } });
  assert.equal(runId({ method: "wanda", options: { nm: "2:4" }, sparsity: 0.5 }), "wanda:2:4@0.5");
  assert.equal(runId({ method: "wanda", options: {}, sparsity: 0.5 }), "wanda@0.5");
  assert.equal(runId({ method: "owl", options: { base: "sparsegpt" }, sparsity: 0.5 }), "owl:sparsegpt@0.5");
  assert.equal(runId({ method: "owl", options: { base: "wanda" }, sparsity: 0.5 }), "owl@0.5");
  assert.equal(runId({ method: "random", options: { seed: 3 }, sparsity: 0.5 }), "random:seed=3@0.5");
  assert.equal(runId({ method: "structured", options: { heads_count: 4 }, sparsity: 0.25 }), "structured@0.25");
  assert.equal(runId({ method: "structured", options: { heads: 0.5 }, sparsity: 0.25 }), "structured:heads=0.5@0.25");
  assert.throws(() => methodFromSpec({ random: "3" }, "prune.methods[2]"), /prune\.methods\[2\]: random takes its options as a map/);
});

test("prunebench prune --calibration: Wanda and SparseGPT calibrate on a dataset from the command line", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-prune-cli-"));
  try {
    const model = path.join("demo", "models", "decoder.onnx");
    const calibration = ["--calibration", "bundled/train", "--tokenizer", path.join("demo", "tokenizer.json"), "--calibration-samples", "8", "--calibration-seq-len", "32"];
    const masks: Record<string, string> = {};
    for (const method of ["magnitude", "wanda", "sparsegpt"]) {
      const argv = ["node", "prunebench", "prune", model, "--method", method, "--sparsity", "0.5", "--out", path.join(dir, `${method}.onnx`), "--mask", path.join(dir, `${method}.mask`), "--cache", path.join(dir, "cache")];
      const { value: code, stderr } = await quietly(() => main([...argv, ...(method === "magnitude" ? [] : calibration)]));
      assert.equal(code, 0, stderr);
      if (method !== "magnitude") assert.match(stderr, /on 8 windows/);
      const file = readMaskFile(path.join(dir, `${method}.mask`));
      masks[method] = file.names().map((n) => Buffer.from(file.mask(n)!.bits).toString("base64")).join();
    }
    assert.notEqual(masks.wanda, masks.magnitude, "activations changed nothing");

    // Several sparsities calibrate once, and prune what separate runs prune.
    const sweep = ["node", "prunebench", "prune", model, "--method", "wanda", "--sparsity", "0.3,0.5", "--out", path.join(dir, "sweep.onnx"), "--mask", path.join(dir, "sweep.mask"), "--cache", path.join(dir, "cache")];
    const { value: code, stderr } = await quietly(() => main([...sweep, ...calibration]));
    assert.equal(code, 0, stderr);
    assert.equal(stderr.match(/on 8 windows of 32 tokens/g)?.length, 1, stderr);
    assert.match(stderr, /reusing the statistics of \d+ activations/);
    assert.ok(readFileSync(path.join(dir, "sweep-s0.5.mask")).equals(readFileSync(path.join(dir, "wanda.mask"))), "the reused statistics pruned differently");

    const base = ["node", "prunebench", "prune", model, "--sparsity", "0.5", "--out", path.join(dir, "x.onnx")];
    const cases: [string[], RegExp][] = [
      [["--method", "wanda"], /wanda needs calibration data .*--calibration <dataset> --tokenizer <file>/],
      [["--method", "wanda", "--calibration", "bundled/train"], /--calibration needs --tokenizer/],
      [["--method", "magnitude", ...calibration], /--calibration: magnitude does not calibrate/],
      [["--method", "wanda", ...calibration.slice(0, 4), "--calibration-samples", "0"], /--calibration-samples: expected a whole number >= 1/],
      [["--method", "wanda", "--tokenizer", "demo/tokenizer.json"], /go with --calibration <dataset>/],
    ];
    for (const [args, pattern] of cases) {
      const { value: code, stderr } = await quietly(() => main([...base, ...args]));
      assert.notEqual(code, 0, args.join(" "));
      assert.match(stderr, pattern, args.join(" "));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
