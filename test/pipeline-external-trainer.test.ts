/**
 * `run` with finetune.command: real commands (node scripts) as external trainers. Good ones
 * give fine-tuned rows with their masks re-applied and no losses (absent, not NaN); bad ones
 * (a non-zero exit, no model, not ONNX, another graph, NaN weights) are failed runs naming the
 * command and the file, `run` exits 3, and a rerun resumes from the journal without crashing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { main } from "../src/cli.ts";
import { graphOf, readModel } from "../src/onnx/model.ts";
import { readFloat32 } from "../src/onnx/tensor.ts";
import { runConfigs } from "../src/pipeline/index.ts";
import { openJournal } from "../src/pipeline/journal.ts";
import { silentProgress } from "../src/pipeline/progress.ts";
import { ResultSchema, type Result } from "../src/results/schema.ts";
import { loadMasks } from "../src/train/masks.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MODEL = path.join(root, "demo/models/decoder.onnx");
const TOKENIZER = path.join(root, "demo/tokenizer.json");
/** The trainers run in the config's folder, where `--import tsx` would not resolve. */
const TSX = pathToFileURL(path.join(root, "node_modules/tsx/dist/loader.mjs")).href;

/** Trainer scripts: a plain copy, and one over the project's ONNX reader and writer. */
function writeTrainers(dir: string): { copy: string; edit: (mode: string) => string; calls: string } {
  const calls = path.join(dir, "calls.log");
  const copy = path.join(dir, "copy.mjs");
  writeFileSync(copy, `import { appendFileSync, copyFileSync } from "node:fs";\nappendFileSync(${JSON.stringify(calls)}, "copy\\n");\ncopyFileSync(process.argv[2], process.argv[3]);\n`);
  const script = path.join(dir, "edit.ts");
  writeFileSync(
    script,
    `import { appendFileSync } from "node:fs";
import { readModel } from ${JSON.stringify(path.join(root, "src/onnx/model.ts"))};
import { writeModel } from ${JSON.stringify(path.join(root, "src/onnx/write.ts"))};
import { readFloat32, setFloat32 } from ${JSON.stringify(path.join(root, "src/onnx/tensor.ts"))};
const [input, output, mode] = process.argv.slice(2);
appendFileSync(${JSON.stringify(calls)}, mode + "\\n");
const m = readModel(input);
const g = m.proto.graph!;
// Every float weight moves, pruned ones included, as a trainer unaware of masks would do.
let k = 0;
for (const t of g.initializer) if (t.dataType === 1) setFloat32(t, readFloat32(m, t).data.map((v) => v + 1e-3 * Math.sin(++k)));
if (mode === "nan") setFloat32(g.initializer.find((t) => t.name === "transformer.h.0.mlp.c_fc.weight")!, new Float32Array(64 * 256).fill(Number.NaN, 0, 5));
if (mode === "drop") g.initializer = g.initializer.filter((t) => t.name !== "transformer.h.1.mlp.c_proj.weight");
writeModel(m, output);
`,
  );
  return { copy: `node ${JSON.stringify(copy)} {model} {out}`, edit: (mode) => `node --import ${TSX} ${JSON.stringify(script)} {model} {out} ${mode}`, calls };
}

function config(dir: string, name: string, command: string): string {
  const file = path.join(dir, `${name}.yml`);
  writeFileSync(
    file,
    `name: ${name}
model: { path: ${MODEL}, tokenizer: ${TOKENIZER} }
prune: { methods: [magnitude], sparsity: [0.5] }
finetune: { command: ${JSON.stringify(command)} }
eval:
  perplexity: { dataset: bundled/test, seq_len: 32, max_tokens: 300 }
  latency: false
`,
  );
  return file;
}

const readResult = (out: string, name: string): Result => ResultSchema.parse(JSON.parse(readFileSync(path.join(out, "results", `${name}.json`), "utf8")));

/** The artifacts a stage journaled, read back as a run reads them. */
function journaled(out: string, name: string, stage: string): { model: string; mask?: string } {
  const value = openJournal(out, name, readResult(out, name).configHash).get<{ model: string; mask?: string }>(stage);
  if (!value) throw new Error(`no journal entry for ${stage}`);
  return value;
}

async function cli(args: string[]): Promise<{ code: number; errors: string[] }> {
  const lines: string[] = [];
  const original = { error: console.error, log: console.log };
  console.error = (...parts: unknown[]) => lines.push(parts.map(String).join(" "));
  console.log = () => {};
  try {
    return { code: await main(["node", "prunebench", ...args]), errors: lines.filter((l) => l.startsWith("error:")) };
  } finally {
    console.error = original.error;
    console.log = original.log;
  }
}

test("external trainers in run: a copy and a weight-changing script give fine-tuned rows with masks re-applied; a rerun resumes", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-external-run-"));
  try {
    const trainers = writeTrainers(dir);
    const out = path.join(dir, "out");
    const configs = [config(dir, "copied", trainers.copy), config(dir, "noisy", trainers.edit("noise"))];
    const done = await runConfigs({ configs, outDir: out, cacheDir: path.join(dir, "cache"), progress: silentProgress, charts: "none" });
    for (const name of ["copied", "noisy"]) {
      const result = readResult(out, name);
      assert.deepEqual(result.runs.map((r) => r.id), ["dense", "dense+ft", "magnitude@0.5", "magnitude@0.5+ft"]);
      for (const run of result.runs) assert.equal(run.error, undefined, `${name} ${run.id}: ${run.error}`);
      const pruned = result.runs.find((r) => r.id === "magnitude@0.5")!;
      const tuned = result.runs.find((r) => r.id === "magnitude@0.5+ft")!;
      // Losses and steps the command cannot report are absent, not NaN (which JSON would make null).
      assert.deepEqual(Object.keys(tuned.finetune!).sort(), ["reapplied", "seconds", "trainer"]);
      assert.equal(tuned.finetune!.trainer, "command");
      // The pruned weights are zero again: as many fewer non-zero weights as pruning left (the
      // noise also moves weights that were zero in the dense model, in both rows alike).
      const control = result.runs.find((r) => r.id === "dense+ft")!;
      assert.equal(control.nonzeroParams - tuned.nonzeroParams, result.runs[0].nonzeroParams - pruned.nonzeroParams, `${name}: the pruned weights are zero again`);
      if (name === "copied") assert.equal(tuned.nonzeroParams, pruned.nonzeroParams);
      assert.ok(Math.abs(tuned.achievedSparsity - 0.5) < 1e-3);
      if (name === "copied") {
        assert.equal(tuned.finetune!.reapplied, 0);
        assert.equal(tuned.perplexity!.token, pruned.perplexity!.token, "the same weights score the same");
      } else {
        assert.ok(tuned.perplexity!.token !== pruned.perplexity!.token, "the weights changed");
      }
    }
    // The script moved every weight: each pruned one was set back to exactly zero, and counted.
    const prunedFiles = journaled(out, "noisy", "prune:magnitude@0.5");
    const tunedFile = journaled(out, "noisy", "finetune:magnitude@0.5").model;
    const masks = loadMasks(prunedFiles.mask!);
    const tunedModel = readModel(tunedFile);
    let pruned = 0;
    for (const [name, mask] of masks) {
      const values = readFloat32(tunedModel, graphOf(tunedModel).initializer.find((t) => t.name === name)!).data;
      for (let i = 0; i < mask.length; i++) {
        if (mask[i]) continue;
        pruned++;
        assert.equal(values[i], 0, `${name}[${i}] is pruned`);
      }
    }
    assert.equal(readResult(out, "noisy").runs.find((r) => r.id === "magnitude@0.5+ft")!.finetune!.reapplied, pruned);
    assert.ok(pruned > 1000);
    // The report renders those rows, with dashes where the trainer reported nothing.
    const report = readFileSync(done.reportFile!, "utf8");
    // (escapeText puts a word joiner after "@", so no one is mentioned.)
    assert.match(report, /\| noisy \| dense\+ft \| – \| – \| – \| – \| – \| command \| /);
    assert.match(report, new RegExp(`\\| noisy \\| magnitude@\u2060?0\\.5\\+ft \\| – \\| – \\| – \\| – \\| – \\| command \\(${pruned.toLocaleString("en-US")} pruned weights re-zeroed\\) \\|`));

    // A rerun reads every stage back from the journal: no trainer runs again, nothing crashes.
    const calls = readFileSync(trainers.calls, "utf8");
    const stages = path.join(out, "noisy", "stages");
    const before = new Map(readdirSync(stages).map((f) => [f, statSync(path.join(stages, f)).mtimeMs]));
    const again = await runConfigs({ configs, outDir: out, cacheDir: path.join(dir, "cache"), progress: silentProgress, charts: "none" });
    assert.equal(readFileSync(trainers.calls, "utf8"), calls, "no trainer ran again");
    for (const [file, mtime] of before) assert.equal(statSync(path.join(stages, file)).mtimeMs, mtime, `${file} was not redone`);
    assert.deepEqual(again.results.map((r) => r.runs.map((run) => [run.id, run.perplexity?.token])), done.results.map((r) => r.runs.map((run) => [run.id, run.perplexity?.token])));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a journal entry an older prunebench wrote with NaN losses (null in JSON) is redone, not read back", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-external-old-"));
  try {
    const trainers = writeTrainers(dir);
    const out = path.join(dir, "out");
    const configs = [config(dir, "old", trainers.copy)];
    await runConfigs({ configs, outDir: out, cacheDir: path.join(dir, "cache"), progress: silentProgress, report: false });
    const stages = path.join(out, "old", "stages");
    for (const f of readdirSync(stages)) {
      const file = path.join(stages, f);
      const record = JSON.parse(readFileSync(file, "utf8"));
      if (!record.stage.startsWith("finetune:")) continue;
      record.value.summary = { steps: 0, tokens: 0, lossStart: null, lossEnd: null, seconds: 1, trainer: "command" };
      writeFileSync(file, JSON.stringify(record));
    }
    const calls = readFileSync(trainers.calls, "utf8").split("\n").filter(Boolean).length;
    const again = await runConfigs({ configs, outDir: out, cacheDir: path.join(dir, "cache"), progress: silentProgress, report: false });
    assert.equal(readFileSync(trainers.calls, "utf8").split("\n").filter(Boolean).length, calls + 2, "both fine-tunes redone");
    for (const run of again.results[0].runs) assert.equal(run.error, undefined, `${run.id}: ${run.error}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad external trainers are failed runs naming the command and the file; run exits 3 and the report names them", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-external-bad-"));
  try {
    const trainers = writeTrainers(dir);
    const other = path.join(dir, "encoder.onnx");
    copyFileSync(path.join(root, "demo/models/encoder.onnx"), other);
    const text = `node -e "require('fs').writeFileSync(process.argv[1], 'not a model')" {out}`;
    const cases: [string, string, RegExp][] = [
      ["exits", `node -e "process.exit(3)" {model} {out}`, /: exited with status 3$/],
      ["nothing", `node -e "" {model} {out}`, /: wrote no model at \{out\} \(.*model\.onnx\)$/],
      ["text", text, /: \/.*model\.onnx: ModelProto(\.graph)?: /],
      ["encoder", `cp ${JSON.stringify(other)} {out}`, /model\.onnx: not the same graph as .*: its inputs are \[/],
      ["dropped", trainers.edit("drop"), /model\.onnx: not the same graph as .*: it lacks the initializer "transformer\.h\.1\.mlp\.c_proj\.weight"/],
      ["nan", trainers.edit("nan"), /model\.onnx: initializer "transformer\.h\.0\.mlp\.c_fc\.weight": 5 NaN values \(weights must be finite\)$/],
    ];
    const out = path.join(dir, "out");
    const files = cases.map(([name, command]) => config(dir, name, command));
    const { code, errors } = await cli(["run", ...files, "--out", out, "--cache", path.join(dir, "cache"), "--charts", "none"]);
    assert.equal(code, 3);
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.match(errors[0], /12 runs failed/);
    const report = readFileSync(path.join(out, "report.md"), "utf8");
    for (const [name, command, pattern] of cases) {
      const result = readResult(out, name);
      const failed = result.runs.filter((r) => r.error);
      assert.deepEqual(failed.map((r) => r.id), ["dense+ft", "magnitude@0.5+ft"], name);
      for (const run of failed) {
        const prefix = `finetune.command ${JSON.stringify(command)}: `;
        assert.ok(run.error!.startsWith(prefix), `${name}: ${run.error}`);
        assert.match(run.error!, pattern, name);
        assert.doesNotMatch(run.error!, /\n/, `${name}: one line`);
      }
      // The other runs still report.
      assert.ok(result.runs.find((r) => r.id === "magnitude@0.5")!.perplexity);
      assert.ok(report.includes(`**${name}**, run dense+ft failed: finetune.command`) || report.includes(`| ${name} | dense+ft | finetune.command`), `${name}: the report names the failure`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the journal refuses NaN and Inf, which JSON would turn into null", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-journal-nan-"));
  try {
    const journal = openJournal(dir, "m", "hash");
    assert.throws(() => journal.put("finetune:x", { summary: { lossStart: Number.NaN } }), /journal: stage finetune:x: value\.summary\.lossStart is NaN/);
    assert.throws(() => journal.put("eval:x", { latency: [{ p50: Number.POSITIVE_INFINITY }] }), /value\.latency\.0\.p50 is Infinity/);
    assert.equal(journal.has("finetune:x") || journal.has("eval:x"), false);
    journal.put("finetune:y", { summary: { trainer: "command", seconds: 1 } });
    assert.deepEqual(journal.get("finetune:y"), { summary: { trainer: "command", seconds: 1 } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
