/** `prunebench finetune` in-process: a pruned built model with its mask file, and an external trainer. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildModel, mapModel } from "../src/models/index.ts";
import { pruneModel, writeMaskFile } from "../src/prune/index.ts";
import { writeModel } from "../src/onnx/write.ts";
import { readModel } from "../src/onnx/model.ts";
import { main } from "../src/cli.ts";
import { floatValues } from "../src/train/train.ts";
import { loadMasks } from "../src/train/masks.ts";
import { ExternalTrainerError, runExternalTrainer } from "../src/train/external.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const sizes = { vocab: 256, layers: 1, dModel: 32, heads: 2, dFF: 64, positions: 64 };

async function prunedModel(dir: string): Promise<{ model: string; mask: string }> {
  const model = buildModel({ family: "decoder", preset: "tiny", sizes, seed: 5 });
  const pruned = await pruneModel(model, mapModel(model), { method: "magnitude", sparsity: 0.5 });
  const file = path.join(dir, "pruned.onnx");
  const mask = path.join(dir, "pruned.mask");
  writeModel(model, file);
  writeMaskFile(mask, pruned.masks, { model: file, method: "magnitude", sparsity: 0.5 });
  return { model: file, mask };
}

function zerosKept(file: string, maskFile: string): void {
  const masks = loadMasks(maskFile);
  const values = floatValues(readModel(file), [...masks.keys()]);
  assert.equal(values.size, masks.size);
  for (const [name, mask] of masks) {
    const v = values.get(name)!;
    for (let i = 0; i < v.length; i++) if (!mask[i]) assert.equal(v[i], 0, `${name}[${i}] stays pruned`);
  }
}

test("prunebench finetune --mask keeps the pruned weights at zero and writes a JSON summary", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-finetune-"));
  try {
    const { model, mask } = await prunedModel(dir);
    const out = path.join(dir, "tuned.onnx");
    const json = path.join(dir, "tuned.json");
    const code = await main(["node", "prunebench", "finetune", model, "--mask", mask, "--dataset", "bundled/train", "--tokenizer", "bytes", "--steps", "6", "--lr", "3e-3", "--batch", "4", "--seq-len", "16", "--eval-batches", "1", "--out", out, "--json", json]);
    assert.equal(code, 0);
    const summary = JSON.parse(readFileSync(json, "utf8"));
    assert.equal(summary.steps, 6);
    assert.equal(summary.family, "decoder");
    assert.equal(summary.sparsity.kept, 1);
    assert.ok(summary.final.loss < summary.initial.loss);
    zerosKept(out, mask);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an external trainer's output gets the masks re-applied; a missing or reshaped weight is a clear error", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-external-"));
  try {
    const { model, mask } = await prunedModel(dir);
    // A "trainer" that moves every weight, pruned ones included (as an unaware PyTorch script would).
    const script = path.join(dir, "trainer.ts");
    writeFileSync(
      script,
      `import { readModel } from ${JSON.stringify(path.join(root, "src/onnx/model.ts"))};
import { writeModel } from ${JSON.stringify(path.join(root, "src/onnx/write.ts"))};
import { readFloat32, setFloat32 } from ${JSON.stringify(path.join(root, "src/onnx/tensor.ts"))};
const [input, output, mode] = process.argv.slice(2);
const m = readModel(input);
const g = m.proto.graph;
for (const t of g.initializer) if (t.dataType === 1) setFloat32(t, readFloat32(m, t).data.map((v) => v + 0.01));
if (mode === "drop") g.initializer = g.initializer.filter((t) => !t.name.includes("c_fc.weight"));
if (mode === "reshape") { const t = g.initializer.find((t) => t.name.includes("c_fc.weight")); t.dims = [t.dims[1], t.dims[0]]; }
writeModel(m, output);
`,
    );
    const command = (mode: string) => `node --import tsx ${JSON.stringify(script)} {model} {out} ${mode}`;
    const out = path.join(dir, "tuned.onnx");
    const masks = loadMasks(mask);
    const result = await runExternalTrainer({ command: command("all"), model, out, masks, cwd: root, onOutput: () => {} });
    assert.ok(result.reapplied > 0);
    assert.equal(result.sparsity!.kept, 1);
    zerosKept(out, mask);
    await assert.rejects(runExternalTrainer({ command: command("drop"), model, out, masks, cwd: root, onOutput: () => {} }), (e: Error) => e instanceof ExternalTrainerError && /not the same graph as .*: it lacks the initializer/.test(e.message));
    await assert.rejects(runExternalTrainer({ command: command("reshape"), model, out, masks, cwd: root, onOutput: () => {} }), /: finetune\.command ".*": .*tuned\.onnx: not the same graph as .*pruned\.onnx: initializer ".*c_fc\.weight" has shape \[64,32\], the input's is \[32,64\]$/);
    await assert.rejects(runExternalTrainer({ command: "exit 3 {out}", model, out, masks, onOutput: () => {} }), /: finetune\.command "exit 3 \{out\}": exited with status 3$/);
    // The failed attempts left the good run's model as it was; the two rejected models are kept
    // beside it for a look, the command that wrote nothing left nothing.
    zerosKept(out, mask);
    assert.equal(readdirSync(dir).filter((f) => f.startsWith(".prunebench-trainer-")).length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("finetune --provider takes cpu or cuda and says so in one line before any work", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "prunebench-finetune-provider-"));
  try {
    const errors = t.mock.method(console, "error", () => {});
    const out = path.join(dir, "tuned.onnx");
    const code = await main(["node", "prunebench", "finetune", path.join(dir, "missing.onnx"), "--provider", "gpu", "--dataset", "bundled/train", "--out", out]);
    assert.notEqual(code, 0);
    const lines = errors.mock.calls.map((c) => String(c.arguments[0]));
    assert.equal(lines.length, 1, lines.join("\n"));
    // Checked before the model is read: the missing file is not what it complains about.
    assert.match(lines[0]!, /--provider: expected cpu or cuda, got "gpu"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
