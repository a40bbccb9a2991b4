import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Command } from "commander";
import { register } from "../src/cli/analyze.ts";
import { UserError } from "../src/errors.ts";
import { mapModel } from "../src/models/index.ts";
import { graphOf, readModel, writeModel } from "../src/onnx/index.ts";
import { AnalysisSchema } from "../src/results/analysis.ts";
import { TORCH_EXPORT, skipWithoutShared } from "./helpers/shared-data.ts";

/**
 * Runs the analyze command in-process as the CLI registers it (the whole program is not loaded,
 * so other commands' state does not matter here), with cli.ts's rule for known errors.
 */
async function cli(...args: string[]): Promise<{ code: number; stderr: string }> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...parts: unknown[]) => lines.push(parts.map(String).join(" "));
  try {
    const program = new Command("prunebench").exitOverride();
    register(program);
    await program.parseAsync(["node", "prunebench", ...args]);
    return { code: 0, stderr: lines.join("\n") };
  } catch (error) {
    if (error instanceof UserError) return { code: error.exitCode, stderr: [...lines, error.message].join("\n") };
    throw error;
  } finally {
    console.error = original;
  }
}

function mapsOrSkip(): string | false {
  const missing = skipWithoutShared(TORCH_EXPORT.gpt2, TORCH_EXPORT.bert);
  if (missing) return missing;
  try {
    mapModel(readModel(TORCH_EXPORT.gpt2));
    return false;
  } catch (error) {
    return (error as Error).message;
  }
}

test("analyze writes the Analysis JSON of several models and one Markdown with their tables and charts", { skip: mapsOrSkip() }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-analyze-cli-"));
  try {
    const json = path.join(dir, "analysis.json");
    const md = path.join(dir, "analysis.md");
    const { code, stderr } = await cli("analyze", TORCH_EXPORT.gpt2, TORCH_EXPORT.bert, "--json", json, "--markdown", md, "--cutoffs", "0.1,0.05");
    assert.equal(code, 0, stderr);
    const doc = JSON.parse(readFileSync(json, "utf8")) as { models: { model: string; analysis: unknown }[] };
    assert.deepEqual(doc.models.map((m) => m.model), ["gpt2", "bert"]);
    for (const m of doc.models) assert.deepEqual(AnalysisSchema.parse(m.analysis).cutoffs, [0.1, 0.05]);
    const text = readFileSync(md, "utf8");
    assert.match(text, /\| gpt2 +\| 3,324,736/);
    assert.match(text, /\| bert +\| 2,061,824/);
    assert.match(text, /https:\/\/quickchart\.io\/chart\?/);
    assert.match(text, /frac \\\|w\\\| < 0\.05/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a config gives the model path, family and cutoffs", { skip: mapsOrSkip() }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-analyze-cli-"));
  try {
    const config = path.join(dir, "gpt2.yml");
    writeFileSync(config, `name: tiny-gpt2\nmodel:\n  path: ${JSON.stringify(TORCH_EXPORT.gpt2)}\n  family: decoder\nanalyze:\n  cutoffs: [0.2, 0.02]\n`);
    const json = path.join(dir, "a.json");
    const { code, stderr } = await cli("analyze", config, "--json", json);
    assert.equal(code, 0, stderr);
    const doc = JSON.parse(readFileSync(json, "utf8")) as { model: string; analysis: unknown };
    assert.equal(doc.model, "tiny-gpt2");
    assert.deepEqual(AnalysisSchema.parse(doc.analysis).cutoffs, [0.2, 0.02]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad cutoffs and NaN weights end with one clear message", { skip: mapsOrSkip() }, async () => {
  const bad = await cli("analyze", TORCH_EXPORT.gpt2, "--cutoffs", "0.1,-1");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--cutoffs/);

  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-analyze-cli-"));
  try {
    const model = readModel(TORCH_EXPORT.gpt2);
    const t = graphOf(model).initializer.find((x) => x.name === "transformer.h.1.mlp.c_fc.weight")!;
    const copy = new Uint8Array(t.rawData);
    new Float32Array(copy.buffer)[7] = NaN;
    t.rawData = copy;
    const file = path.join(dir, "model.onnx");
    writeModel(model, file, { externalData: "never" });
    const { code, stderr } = await cli("analyze", file, "--json", path.join(dir, "a.json"));
    assert.equal(code, 1);
    assert.match(stderr, /model\.onnx: initializer "transformer\.h\.1\.mlp\.c_fc\.weight": 1 NaN value \(weights must be finite\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
