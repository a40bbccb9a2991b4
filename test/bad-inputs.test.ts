/**
 * Bad input, as a new user writes it: every case ends with its exit code, exactly one
 * "error: ..." line naming the file and the field, no stack trace, and no input file changed
 * (sha256 before and after). A run of several configs where one is bad runs nothing at all.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { main } from "../src/cli.ts";
import { graphOf, readModel } from "../src/onnx/model.ts";
import { writeModel } from "../src/onnx/write.ts";
import { SHARED_TOKENIZERS, TORCH_EXPORT, skipWithoutShared } from "./helpers/shared-data.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MODEL = path.join(ROOT, "demo/models/decoder.onnx");
const TOKENIZER = path.join(ROOT, "demo/tokenizer.json");
const RESULT = path.join(ROOT, "test/fixtures/results/gpt2.json");

function hashes(files: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of files) if (existsSync(f) && statSync(f).isFile()) out.set(f, createHash("sha256").update(readFileSync(f)).digest("hex"));
  return out;
}

async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  const lines: string[] = [];
  const original = { error: console.error, log: console.log };
  console.error = (...parts: unknown[]) => lines.push(parts.map(String).join(" "));
  console.log = () => {};
  try {
    return { code: await main(["node", "prunebench", ...args]), stderr: lines.join("\n") };
  } finally {
    console.error = original.error;
    console.log = original.log;
  }
}

interface Refusal {
  args: string[];
  code: number;
  /** Text the one line must hold: the file and the field. */
  names: string[];
  pattern?: RegExp;
  inputs: string[];
}

async function expectRefusal(label: string, r: Refusal): Promise<void> {
  const before = hashes(r.inputs);
  const { code, stderr } = await cli(r.args);
  const lines = stderr.split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(code, r.code, `${label}: exit code (stderr: ${stderr})`);
  assert.equal(lines.length, 1, `${label}: one error line, got:\n${stderr}`);
  for (const name of r.names) assert.ok(lines[0].includes(name), `${label}: ${JSON.stringify(name)} named in ${lines[0]}`);
  if (r.pattern) assert.match(lines[0], r.pattern, label);
  assert.doesNotMatch(stderr, /\n\s+at |Error:.*\n\s+at /, `${label}: no stack trace`);
  assert.deepEqual(hashes(r.inputs), before, `${label}: inputs unchanged`);
}

type ConfigDoc = Record<string, unknown>;

function goodConfig(name: string): ConfigDoc {
  return {
    name,
    model: { path: MODEL, tokenizer: TOKENIZER },
    prune: { methods: ["magnitude"], sparsity: [0.5] },
    eval: { perplexity: { dataset: "bundled/test", seq_len: 64, max_tokens: 500 }, latency: false },
  };
}

const merge = (base: ConfigDoc, patch: ConfigDoc): ConfigDoc => {
  const out: ConfigDoc = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    out[k] = v && typeof v === "object" && !Array.isArray(v) && base[k] && typeof base[k] === "object" ? merge(base[k] as ConfigDoc, v as ConfigDoc) : v;
  }
  return out;
};

test("run: a bad config among good ones stops everything before any work, naming file and field", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-bad-config-"));
  try {
    const textModel = path.join(dir, "notes.onnx");
    writeFileSync(textModel, "this is not a model\n");
    const empty = path.join(dir, "empty.txt");
    writeFileSync(empty, "   \n");
    mkdirSync(path.join(dir, "folder.onnx"));
    const good = path.join(dir, "good.yml");
    writeFileSync(good, stringify(goodConfig("good")));
    const cases: [string, ConfigDoc | string, string, RegExp?][] = [
      ["model file missing", { model: { path: path.join(dir, "none.onnx") } }, "model.path", /not found/],
      ["model is a folder", { model: { path: path.join(dir, "folder.onnx") } }, "model.path"],
      ["model is a text file", { model: { path: textModel } }, "model.path"],
      ["tokenizer missing", { model: { tokenizer: path.join(dir, "none.json") } }, "model.tokenizer", /not found/],
      ["tokenizer is the model", { model: { tokenizer: MODEL } }, "model.tokenizer"],
      ["family contradicts the graph", { model: { family: "encoder" } }, "model.family", /decoder/],
      ["both path and hf", { model: { hf: { repo: "a/b", file: "m.onnx" } } }, "model"],
      ["eval dataset unknown", { eval: { perplexity: { dataset: "nosuch/test" } } }, "eval.perplexity.dataset", /unknown dataset "nosuch"/],
      ["eval dataset file missing", { eval: { perplexity: { dataset: path.join(dir, "none.txt") } } }, "eval.perplexity.dataset", /not found/],
      ["eval dataset empty file", { eval: { perplexity: { dataset: empty } } }, "eval.perplexity.dataset", /empty/],
      ["eval dataset unknown split", { eval: { perplexity: { dataset: "bundled/dev" } } }, "eval.perplexity.dataset", /split/],
      ["finetune dataset unknown", { finetune: { steps: 1, dataset: "nosuch/train", seq_len: 32 } }, "finetune.dataset"],
      ["finetune validation unknown", { finetune: { steps: 1, seq_len: 32, validation: "nosuch/valid" } }, "finetune.validation"],
      ["calibration dataset unknown", { prune: { methods: ["wanda"], calibration: { dataset: "nosuch/train", seq_len: 32 } } }, "prune.calibration.dataset"],
      ["nm 5:4", { prune: { methods: [{ nm: "5:4" }] } }, "prune.methods[0]", /N = 5 > M = 4/],
      ["nm 0:4", { prune: { methods: [{ nm: "0:4" }] } }, "prune.methods[0]"],
      ["nm abc", { prune: { methods: [{ nm: "abc" }] } }, "prune.methods[0]", /not N:M/],
      ["magnitude scope planet", { prune: { methods: ["magnitude", { magnitude: { scope: "planet" } }] } }, "prune.methods[1]", /planet/],
      ["unknown method", { prune: { methods: ["bogus"] } }, "prune.methods"],
      ["include matches nothing", { prune: { include: ["*.nope.*"] } }, "prune.include", /no float weight matches/],
      ["exclude removes everything", { prune: { exclude: ["*"] } }, "prune.exclude", /no float weight matches/],
      ["masked-lm on a decoder", { eval: { perplexity: { protocol: "masked-lm" } } }, "eval.perplexity.protocol", /encoder models/],
      ["stride past seq_len", { eval: { perplexity: { seq_len: 64, stride: 128 } } }, "eval.perplexity.stride", /longer than seq_len 64/],
      ["eval seq_len past positions", { eval: { perplexity: { seq_len: 300 } } }, "eval.perplexity.seq_len", /256 positions/],
      ["finetune seq_len past positions", { finetune: { steps: 1, seq_len: 4096 } }, "finetune.seq_len", /256 positions/],
      ["calibration seq_len past positions", { prune: { methods: ["wanda"], calibration: { seq_len: 1000 } } }, "prune.calibration.seq_len", /256 positions/],
      ["latency seq_len past positions", { eval: { latency: { seq_len: [64, 512], budget_ms: 10 } } }, "eval.latency.seq_len[1]", /256 positions/],
      ["sparsity out of range", { prune: { sparsity: [0.5, 1.5] } }, "prune.sparsity[1]"],
      ["unknown key", { prune: { sparsities: [0.5] } }, "prune"],
      ["bad name", { name: "my model!" }, "name"],
      ["finetune steps zero", { finetune: { steps: 0 } }, "finetune.steps"],
      ["finetune command without {out}", { finetune: { command: "python train.py {model}" } }, "finetune.command", /must contain \{out\}/],
      ["protocol unknown", { eval: { perplexity: { protocol: "bleu" } } }, "eval.perplexity.protocol", /expected one of "sliding-window"/],
      ["latency batch not a number", { eval: { latency: { batch: ["one"] } } }, "eval.latency.batch[0]", /expected number/],
      ["YAML syntax", "name: [unclosed\n", "YAML"],
    ];
    for (const [label, patch, field, pattern] of cases) {
      const bad = path.join(dir, "bad.yml");
      writeFileSync(bad, typeof patch === "string" ? patch : stringify(merge(goodConfig("bad"), patch)));
      const out = path.join(dir, "out");
      await expectRefusal(label, { args: ["run", good, bad, "--out", out], code: 1, names: ["bad.yml", field], pattern, inputs: [good, bad, MODEL, TOKENIZER, textModel, empty] });
      assert.equal(existsSync(path.join(out, "results")), false, `${label}: nothing ran`);
      assert.equal(existsSync(path.join(out, "report.md")), false, `${label}: no report`);
    }
    // Run-level refusals: files that are not configs, and two configs under one name.
    await expectRefusal("config missing", { args: ["run", good, path.join(dir, "missing.yml"), "--out", path.join(dir, "out")], code: 1, names: ["missing.yml", "ENOENT"], inputs: [good] });
    await expectRefusal("config is a folder", { args: ["run", good, dir, "--out", path.join(dir, "out")], code: 1, names: [dir, "EISDIR"], inputs: [good] });
    const twin = path.join(dir, "twin.yml");
    writeFileSync(twin, stringify(goodConfig("good")));
    await expectRefusal("duplicate names", { args: ["run", good, twin, "--out", path.join(dir, "out")], code: 1, names: ["twin.yml", "name"], inputs: [good, twin] });
    await expectRefusal("providers flag", { args: ["run", good, "--providers", "tpu", "--out", path.join(dir, "out")], code: 2, names: ["--providers"], inputs: [good] });
    assert.equal(existsSync(path.join(dir, "out", "results")), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("report: bad result files are named with their field and nothing is written", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-bad-result-"));
  try {
    const good = JSON.parse(readFileSync(RESULT, "utf8"));
    const variants: [string, unknown, string][] = [
      ["p50 a string", (() => { const r = structuredClone(good); r.runs[3].latency[0].p50 = "fast"; return r; })(), "runs[3].latency[0].p50"],
      ["schema version", { ...good, schema: 99 }, "schema"],
      ["runs not a list", { ...good, runs: {} }, "runs"],
      ["model missing", (() => { const r = structuredClone(good); delete r.model; return r; })(), "model"],
      ["sparsity a string", (() => { const r = structuredClone(good); r.runs[1].sparsity = "half"; return r; })(), "runs[1].sparsity"],
      ["runner missing", (() => { const r = structuredClone(good); delete r.runner; return r; })(), "runner"],
      ["family unknown", { ...good, family: "cnn" }, "family"],
    ];
    for (const [label, doc, field] of variants) {
      const file = path.join(dir, "bad.json");
      writeFileSync(file, JSON.stringify(doc));
      await expectRefusal(label, { args: ["report", file, "--out", path.join(dir, "report.md")], code: 1, names: ["bad.json", field], inputs: [file] });
    }
    const notJson = path.join(dir, "broken.json");
    writeFileSync(notJson, "{ not json");
    await expectRefusal("not JSON", { args: ["report", notJson], code: 1, names: ["broken.json", "JSON"], inputs: [notJson] });
    await expectRefusal("missing", { args: ["report", path.join(dir, "none.json")], code: 1, names: ["none.json", "ENOENT"], inputs: [] });
    await expectRefusal("folder", { args: ["report", dir], code: 1, names: [dir, "EISDIR"], inputs: [] });
    await expectRefusal("bad base", { args: ["report", RESULT, "--base", notJson], code: 1, names: ["broken.json"], inputs: [RESULT, notJson] });
    for (const [flag, value] of [["--charts", "pie"], ["--confidence", "2"], ["--max-chars", "0"], ["--ppl-tolerance", "much"]] as const) {
      await expectRefusal(`report ${flag}`, { args: ["report", RESULT, flag, value, "--out", path.join(dir, "report.md")], code: 2, names: [flag], inputs: [RESULT] });
    }
    assert.equal(existsSync(path.join(dir, "report.md")), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("model files and flags: analyze, prune, eval and build refuse with one line", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-bad-model-"));
  try {
    const text = path.join(dir, "text.onnx");
    writeFileSync(text, "hello\n");
    const truncated = path.join(dir, "truncated.onnx");
    writeFileSync(truncated, readFileSync(MODEL).subarray(0, 5000));
    const out = path.join(dir, "p.onnx");
    const inputs = [MODEL, TOKENIZER, text, truncated];
    const cases: [string, string[], number, string[]][] = [
      ["analyze a text file", ["analyze", text], 1, ["text.onnx"]],
      ["analyze a truncated model", ["analyze", truncated], 1, ["truncated.onnx"]],
      ["analyze a missing model", ["analyze", path.join(dir, "none.onnx")], 1, ["none.onnx"]],
      ["analyze bad cutoffs", ["analyze", MODEL, "--cutoffs", "a,b"], 2, ["--cutoffs"]],
      ["prune a text file", ["prune", text, "--method", "magnitude", "--sparsity", "0.5", "--out", out], 1, ["text.onnx"]],
      ["prune a missing model", ["prune", path.join(dir, "none.onnx"), "--method", "magnitude", "--sparsity", "0.5", "--out", out], 1, ["none.onnx"]],
      ["prune sparsity 1", ["prune", MODEL, "--method", "magnitude", "--sparsity", "1", "--out", out], 2, ["--sparsity"]],
      ["prune nm 5:4", ["prune", MODEL, "--method", "nm", "--nm", "5:4", "--out", out], 1, ["nm pattern", "N = 5 > M = 4"]],
      ["prune unknown method", ["prune", MODEL, "--method", "bogus", "--sparsity", "0.5", "--out", out], 1, ["bogus"]],
      ["prune engine", ["prune", MODEL, "--method", "global", "--sparsity", "0.5", "--engine", "gpu", "--out", out], 2, ["--engine"]],
      ["prune include nothing", ["prune", MODEL, "--method", "magnitude", "--sparsity", "0.5", "--include", "*.nope.*", "--out", out], 1, ["include"]],
      ["prune nm flag on random", ["prune", MODEL, "--method", "random", "--nm", "2:4", "--sparsity", "0.5", "--out", out], 2, ["--nm"]],
      ["prune calibration without tokenizer", ["prune", MODEL, "--method", "wanda", "--sparsity", "0.5", "--calibration", "bundled/train", "--out", out], 2, ["--tokenizer"]],
      ["eval seq-len zero", ["eval", MODEL, "--tokenizer", TOKENIZER, "--dataset", "bundled/test", "--seq-len", "zero"], 2, ["--seq-len"]],
      ["eval seq-len past positions", ["eval", MODEL, "--tokenizer", TOKENIZER, "--dataset", "bundled/test", "--seq-len", "1024"], 2, ["--seq-len", "256 positions", "transformer.wpe.weight"]],
      ["eval stride past seq-len", ["eval", MODEL, "--tokenizer", TOKENIZER, "--dataset", "bundled/test", "--seq-len", "32", "--stride", "64"], 2, ["--stride"]],
      ["eval provider", ["eval", MODEL, "--latency", "--provider", "tpu"], 2, ["--provider"]],
      ["eval without tokenizer", ["eval", MODEL, "--dataset", "bundled/test"], 2, ["--tokenizer"]],
      ["eval missing model", ["eval", path.join(dir, "none.onnx"), "--tokenizer", TOKENIZER, "--dataset", "bundled/test"], 1, ["none.onnx"]],
      ["eval text model", ["eval", text, "--tokenizer", TOKENIZER, "--dataset", "bundled/test"], 1, ["text.onnx"]],
      ["finetune schedule", ["finetune", MODEL, "--dataset", "bundled/train", "--tokenizer", TOKENIZER, "--out", out, "--schedule", "zigzag"], 2, ["--schedule"]],
      ["build preset", ["build", "decoder", "--preset", "gpt3", "--out", out], 2, ["--preset"]],
      ["build family", ["build", "decoders", "--out", out], 2, ["family"]],
    ];
    for (const [label, args, code, names] of cases) await expectRefusal(label, { args, code, names, inputs });
    assert.equal(existsSync(out), false, "nothing written");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The demo decoder with NaN (or Inf) written into one initializer. */
function withNonFinite(file: string, tensor: string, values: number[]): void {
  const model = readModel(MODEL);
  const t = graphOf(model).initializer.find((x) => x.name === tensor)!;
  const copy = new Uint8Array(t.rawData);
  const floats = new Float32Array(copy.buffer);
  values.forEach((v, i) => (floats[i * 7] = v));
  t.rawData = copy;
  writeModel(model, file, { externalData: "never" });
}

test("NaN weights: eval, finetune, prune (random, structured, sparsegpt) and run refuse them in one line naming the file and initializer", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-nan-"));
  try {
    const weight = "transformer.h.0.attn.c_attn.weight";
    const nan = path.join(dir, "nan.onnx");
    withNonFinite(nan, weight, [NaN, NaN, NaN]);
    const inf = path.join(dir, "inf.onnx");
    withNonFinite(inf, "transformer.h.1.mlp.c_fc.weight", [Infinity, -Infinity]);
    const out = path.join(dir, "p.onnx");
    const inputs = [nan, inf, TOKENIZER];
    const says = /initializer "transformer\.h\.0\.attn\.c_attn\.weight": 3 NaN values \(weights must be finite\)$/;
    const cases: [string, string[], RegExp][] = [
      ["eval", ["eval", nan, "--tokenizer", TOKENIZER, "--dataset", "bundled/test", "--seq-len", "32"], says],
      ["eval latency only", ["eval", nan, "--latency", "--latency-seq-len", "16"], says],
      ["finetune", ["finetune", nan, "--dataset", "bundled/train", "--tokenizer", TOKENIZER, "--steps", "1", "--seq-len", "16", "--out", out], says],
      ["finetune --command", ["finetune", nan, "--command", "cp {model} {out}", "--out", out], says],
      ["prune random", ["prune", nan, "--method", "random", "--sparsity", "0.5", "--out", out], says],
      ["prune magnitude", ["prune", nan, "--method", "magnitude", "--sparsity", "0.5", "--out", out], says],
      ["prune structured", ["prune", nan, "--method", "structured", "--heads", "0.5", "--out", out], says],
      ["prune sparsegpt", ["prune", nan, "--method", "sparsegpt", "--sparsity", "0.5", "--calibration", "bundled/train", "--tokenizer", TOKENIZER, "--calibration-samples", "2", "--calibration-seq-len", "16", "--out", out], says],
      ["prune Inf", ["prune", inf, "--method", "random", "--sparsity", "0.5", "--out", out], /initializer "transformer\.h\.1\.mlp\.c_fc\.weight": 2 Inf values/],
      ["analyze", ["analyze", nan], says],
    ];
    for (const [label, args, pattern] of cases) {
      const file = args[1];
      await expectRefusal(label, { args, code: 1, names: [path.basename(file)], pattern, inputs });
    }
    assert.equal(existsSync(out), false, "nothing written");

    // run: the preflight refuses the config before any work, naming the config, its field and the initializer.
    const config = path.join(dir, "nan.yml");
    writeFileSync(config, stringify(merge(goodConfig("nan"), { model: { path: nan }, finetune: { steps: 1, seq_len: 32 } })));
    const runOut = path.join(dir, "out");
    await expectRefusal("run", { args: ["run", config, "--out", runOut], code: 1, names: ["nan.yml", "model.path", "nan.onnx", weight], pattern: says, inputs: [...inputs, config] });
    assert.equal(existsSync(path.join(runOut, "results")), false, "run: nothing ran");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("eval on a 128-position export: the default seq-len is cut to the positions, an explicit one past them refused", { skip: skipWithoutShared(TORCH_EXPORT.gpt2, path.join(SHARED_TOKENIZERS, "gpt2")) }, async () => {
  await expectRefusal("gpt2 --seq-len 1024", {
    args: ["eval", TORCH_EXPORT.gpt2, "--tokenizer", path.join(SHARED_TOKENIZERS, "gpt2"), "--dataset", "bundled/test", "--seq-len", "1024"],
    code: 2,
    names: ["--seq-len", "128 positions", "transformer.wpe.weight"],
    inputs: [TORCH_EXPORT.gpt2],
  });
});

test("no output replaces an input: the model, its external data, a mask, a result, or another output of the command (exit 2)", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-overwrite-"));
  const cwd = process.cwd();
  try {
    process.chdir(dir);
    // The demo decoder with its weights in ext.onnx.data, a copy inline, a symbolic and a hard link to it.
    writeModel(readModel(MODEL), path.join(dir, "ext.onnx"), { externalData: "always" });
    copyFileSync(MODEL, path.join(dir, "m.onnx"));
    copyFileSync(MODEL, path.join(dir, "m-s0.5.onnx"));
    symlinkSync(path.join(dir, "m.onnx"), path.join(dir, "link.onnx"));
    linkSync(path.join(dir, "m.onnx"), path.join(dir, "hard.onnx"));
    copyFileSync(RESULT, path.join(dir, "r.json"));
    const config = path.join(dir, "c.yml");
    mkdirSync(path.join(dir, "out", "c", "artifacts"), { recursive: true });
    copyFileSync(MODEL, path.join(dir, "out", "c", "artifacts", "m.onnx"));
    writeFileSync(config, stringify({ ...goodConfig("c"), model: { path: "out/c/artifacts/m.onnx", tokenizer: TOKENIZER } }));
    const inputs = ["ext.onnx", "ext.onnx.data", "m.onnx", "m-s0.5.onnx", "r.json", "c.yml", "out/c/artifacts/m.onnx"].map((f) => path.join(dir, f));
    const prune = ["prune", "--method", "magnitude", "--sparsity", "0.5"];
    const cases: [string, string[], string[]][] = [
      ["prune --out on the input's data file", [...prune.slice(0, 1), "ext.onnx", ...prune.slice(1), "--out", "ext.onnx.data"], ["--out ext.onnx.data", "external data"]],
      ["prune --out beside, its data file the input's", [...prune.slice(0, 1), "ext.onnx", ...prune.slice(1), "--out", "./ext.onnx"], ["--out ./ext.onnx", "the input model"]],
      ["prune --mask on the input", [...prune.slice(0, 1), "m.onnx", ...prune.slice(1), "--out", "p.onnx", "--mask", "./m.onnx"], ["--mask ./m.onnx", "the input model"]],
      ["prune --json on the input's data", [...prune.slice(0, 1), "ext.onnx", ...prune.slice(1), "--out", "p.onnx", "--json", `${dir}/ext.onnx.data`], ["--json", "ext.onnx.data"]],
      ["prune --out through a symbolic link", [...prune.slice(0, 1), "link.onnx", ...prune.slice(1), "--out", "m.onnx"], ["--out m.onnx", "the input model"]],
      ["prune several sparsities, one onto the input", ["prune", "m-s0.5.onnx", "--method", "magnitude", "--sparsity", "0.3,0.5", "--out", "m.onnx"], ["--out m-s0.5.onnx", "the input model"]],
      ["prune --out and --mask the same file", [...prune.slice(0, 1), "m.onnx", ...prune.slice(1), "--out", "p.onnx", "--mask", "p.onnx"], ["--mask p.onnx", "--out writes here too"]],
      ["prune --budget --json on the input", ["prune", "m.onnx", "--method", "magnitude", "--budget", "2%", "--dataset", "bundled/test", "--tokenizer", TOKENIZER, "--out", "p.onnx", "--json", "m.onnx"], ["--json m.onnx", "the input model"]],
      ["finetune --out in place", ["finetune", "m.onnx", "--dataset", "bundled/train", "--tokenizer", TOKENIZER, "--out", "m.onnx"], ["--out m.onnx", "the input model"]],
      ["finetune --out on a hard link of the input", ["finetune", "m.onnx", "--dataset", "bundled/train", "--tokenizer", TOKENIZER, "--out", "hard.onnx"], ["--out hard.onnx", "the input model"]],
      ["finetune --checkpoint on its --json", ["finetune", "m.onnx", "--dataset", "bundled/train", "--tokenizer", TOKENIZER, "--out", "t.onnx", "--json", "t.json", "--checkpoint", "t.json"], ["--checkpoint t.json", "--json writes here too"]],
      ["eval --json on the input", ["eval", "m.onnx", "--tokenizer", TOKENIZER, "--dataset", "bundled/test", "--json", "hard.onnx"], ["--json hard.onnx", "the input model"]],
      ["analyze --json on the input", ["analyze", "ext.onnx", "--json", "ext.onnx.data"], ["--json ext.onnx.data", "external data"]],
      ["analyze --markdown on a config", ["analyze", "c.yml", "--markdown", "c.yml"], ["--markdown c.yml", "the input c.yml"]],
      ["analyze --json and --markdown the same", ["analyze", "m.onnx", "--json", "a.txt", "--markdown", "./a.txt"], ["--markdown ./a.txt", "--json writes here too"]],
      ["build --json on its --out", ["build", "decoder", "--out", "b.onnx", "--json", "b.onnx"], ["--json b.onnx", "--out writes here too"]],
      ["report --out on its input", ["report", "r.json", "--out", "r.json"], ["--out r.json", "a result file"]],
      ["report --assets over its input", ["report", "out/report.md", "--assets", "out"], ["--assets (report.md)", "a result file"]],
      ["dashboard --out over its --commits", ["dashboard", "out", "--commits", "index.html", "--out", "."], ["--out (index.html) index.html", "the commit order"]],
      ["run --out whose artifacts hold the model", ["run", "c.yml", "--out", "out"], ["--out", path.join("out", "c", "artifacts"), "the model of"]],
    ];
    writeFileSync(path.join(dir, "out", "report.md"), readFileSync(RESULT));
    writeFileSync(path.join(dir, "index.html"), "abc123\n");
    inputs.push(path.join(dir, "out", "report.md"), path.join(dir, "index.html"));
    for (const [label, args, names] of cases) await expectRefusal(label, { args, code: 2, names, inputs });
    for (const f of ["p.onnx", "p.onnx.data", "m-s0.3.onnx", "t.onnx", "t.json", "a.txt", "b.onnx", "out/results"]) assert.equal(existsSync(path.join(dir, f)), false, `${f} not written`);
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
});
