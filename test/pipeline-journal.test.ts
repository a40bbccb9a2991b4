import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { openJournal, stageKey } from "../src/pipeline/journal.ts";

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-journal-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Pruned {
  model: string;
  mask: string | null;
  result: { model: string; output: string; sparsity: number };
}

/** A prune stage as the pipeline records it: artifacts under the journal, the input outside. */
function recordPrune(out: string, input: string): Pruned {
  const journal = openJournal(out, "gpt2", "hash0");
  const model = journal.artifact("prune:magnitude@0.5", "model.onnx");
  const mask = journal.artifact("prune:magnitude@0.5", "model.mask");
  writeFileSync(model, "pruned");
  writeFileSync(mask, "mask");
  const value: Pruned = { model, mask, result: { model: input, output: model, sparsity: 0.5 } };
  journal.put("prune:magnitude@0.5", value);
  return value;
}

test("artifact paths are stored relative to the output folder, so a moved folder reads its stages back", (t) => {
  const dir = tmp(t);
  const input = path.join(dir, "models", "gpt2.onnx");
  const recorded = recordPrune(path.join(dir, "out"), input);
  assert.ok(path.isAbsolute(recorded.model));
  const stages = path.join(dir, "out", "gpt2", "stages");
  const text = readFileSync(path.join(stages, readdirSync(stages)[0]), "utf8");
  assert.ok(!text.includes(path.join(dir, "out")), `no absolute path into the output folder is stored:\n${text}`);
  assert.match(text, /"\$OUT\/gpt2\/artifacts\/prune_magnitude_0\.5-[0-9a-f]{12}\/model\.onnx"/);
  assert.ok(text.includes(JSON.stringify(input)), "a path outside the output folder is kept as it is");

  renameSync(path.join(dir, "out"), path.join(dir, "restored"));
  const moved = path.join(dir, "restored");
  const read = openJournal(moved, "gpt2", "hash0").get<Pruned>("prune:magnitude@0.5");
  const artifacts = path.join(moved, "gpt2", "artifacts", stageKey("hash0", "prune:magnitude@0.5"));
  assert.deepEqual(read, { model: path.join(artifacts, "model.onnx"), mask: path.join(artifacts, "model.mask"), result: { model: input, output: path.join(artifacts, "model.onnx"), sparsity: 0.5 } });
  // A relative --out (as the CLI's default "out") resolves against the working directory once.
  assert.equal(openJournal(path.relative(process.cwd(), moved), "gpt2", "hash0").get<Pruned>("prune:magnitude@0.5")?.model, path.join(artifacts, "model.onnx"));
});

test("a journal written with absolute paths still reads in place, and finds its artifacts again once the folder moved", (t) => {
  const dir = tmp(t);
  const out = path.join(dir, "out");
  const key = stageKey("hash0", "prune:magnitude@0.5");
  const artifacts = path.join(out, "gpt2", "artifacts", key);
  mkdirSync(artifacts, { recursive: true });
  mkdirSync(path.join(out, "gpt2", "stages"), { recursive: true });
  writeFileSync(path.join(artifacts, "model.onnx"), "pruned");
  const old = { stage: "prune:magnitude@0.5", configHash: "hash0", finishedAt: "2024-01-01T00:00:00.000Z", value: { model: path.join(artifacts, "model.onnx"), mask: null, result: { sparsity: 0.5 } } };
  writeFileSync(path.join(out, "gpt2", "stages", `${key}.json`), JSON.stringify(old));
  assert.deepEqual(openJournal(out, "gpt2", "hash0").get("prune:magnitude@0.5"), old.value);
  renameSync(out, path.join(dir, "elsewhere"));
  const moved = openJournal(path.join(dir, "elsewhere"), "gpt2", "hash0").get<{ model: string }>("prune:magnitude@0.5");
  assert.equal(moved?.model, path.join(dir, "elsewhere", "gpt2", "artifacts", key, "model.onnx"));
});

test("a stage whose artifact is gone (a cache that kept the journal only) reads as not done", (t) => {
  const dir = tmp(t);
  const recorded = recordPrune(path.join(dir, "out"), path.join(dir, "in.onnx"));
  const journal = openJournal(path.join(dir, "out"), "gpt2", "hash0");
  assert.equal(journal.has("prune:magnitude@0.5"), true);
  rmSync(recorded.mask!);
  assert.equal(journal.get("prune:magnitude@0.5"), undefined);
  assert.equal(journal.has("prune:magnitude@0.5"), false);
  // Stages without paths are unaffected.
  journal.put("eval:dense", { perplexity: { token: 12.5 }, latency: [] });
  assert.deepEqual(journal.get("eval:dense"), { perplexity: { token: 12.5 }, latency: [] });
});
