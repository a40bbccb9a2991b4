import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { analyzeModel, analyzeWeights, isCounted, onnxWeightSource } from "../src/analyze/index.ts";
import { mapModel, type ModelMap } from "../src/models/index.ts";
import { DataType, floatToBfloat16, floatToHalf, graphOf, readFloat32, readModel, writeModel, type OnnxModel } from "../src/onnx/index.ts";
import { AnalysisSchema } from "../src/results/analysis.ts";
import { TORCH_EXPORT, skipWithoutShared } from "./helpers/shared-data.ts";

function mapOrSkip(model: OnnxModel): ModelMap | undefined {
  try {
    return mapModel(model);
  } catch (error) {
    if (/not built yet/.test((error as Error).message)) return undefined;
    throw error;
  }
}

/** All counted weights of the model, as fp32, read the plain way. */
function weights(model: OnnxModel, map: ModelMap, where: (p: ModelMap["params"][number]) => boolean = () => true): Float32Array[] {
  const byName = new Map(graphOf(model).initializer.map((t) => [t.name, t]));
  return map.params.filter((p) => isCounted(p) && where(p)).map((p) => readFloat32(model, byName.get(p.name)!).data);
}

function brute(arrays: Float32Array[], pred: (x: number) => boolean): number {
  let n = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) if (pred(a[i])) n++;
  return n;
}

/** Every |w| of the arrays, sorted (for medians of one layer). */
function sortedAbs(arrays: Float32Array[]): Float32Array {
  const out = new Float32Array(arrays.reduce((s, a) => s + a.length, 0));
  let at = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) out[at++] = Math.abs(a[i]);
  return out.sort();
}

/** For each threshold c, how many |w| < c: every weight compared with the thresholds directly. */
function countsBelow(arrays: Float32Array[], thresholds: number[]): number[] {
  const sorted = [...thresholds].sort((x, y) => x - y);
  const first = new Float64Array(sorted.length + 1);
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const x = Math.abs(a[i]);
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (x < sorted[mid]) hi = mid;
        else lo = mid + 1;
      }
      first[lo]++;
    }
  }
  const below = new Map<number, number>();
  let run = 0;
  sorted.forEach((c, j) => {
    run += first[j];
    below.set(c, run);
  });
  return thresholds.map((c) => below.get(c)!);
}

function median(sorted: Float32Array): number {
  const h = sorted.length / 2;
  return sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[h - 1] + sorted[h]) / 2;
}

const EXPECTED_LAYERS = {
  gpt2: [["decoder", 0], ["decoder", 1]],
  bert: [["encoder", 0], ["encoder", 1]],
  pegasus: [["encoder", 0], ["encoder", 1], ["decoder", 0], ["decoder", 1]],
} as const;

for (const name of ["gpt2", "bert", "pegasus"] as const) {
  test(`${name} torch export: counts, bins, exact cutoffs and medians, layers`, { skip: skipWithoutShared(TORCH_EXPORT[name]) }, (t) => {
    const model = readModel(TORCH_EXPORT[name]);
    const map = mapOrSkip(model);
    if (!map) return t.skip("mapModel is not built yet");
    const { analysis: a } = analyzeModel({ model, map });
    AnalysisSchema.parse(a);

    // The torch counts of SOURCES.md: GPT2LMHeadModel (= GPT2Model, head tied), BertForMaskedLM
    // (MLM head included), Pegasus with final_logits_bias and one position table per stack.
    if (name === "gpt2") assert.equal(a.params.total, 3_324_736);
    if (name === "bert") assert.equal(a.params.withHeads, 2_096_634);
    if (name === "pegasus") assert.equal(a.params.withHeads! + 128 * 64, 3_516_817);
    assert.equal(a.params.total, Object.values(a.params.byPart).reduce((s, n) => s + n, 0));

    const sum = (h: { counts: number[]; under: number; over: number }) => h.counts.reduce((s, c) => s + c, 0) + h.under + h.over;
    assert.equal(sum(a.all.linear), a.params.total);
    assert.equal(sum(a.all.log10) + a.all.zeros, a.params.total);

    const all = weights(model, map);
    const [zeros, ...below] = countsBelow(all, [Number.MIN_VALUE, ...a.cutoffs, ...a.all.raw.cutoffs]);
    assert.equal(a.zeros, zeros);
    a.cutoffs.forEach((c, i) => assert.equal(a.belowCutoff[i], below[i] / a.params.total, `|w| < ${c}`));
    a.all.raw.cutoffs.forEach((c, i) => assert.equal(a.all.raw.fraction[i], below[a.cutoffs.length + i] / a.params.total, `raw curve at ${c}`));

    assert.deepEqual(a.perLayer.map((l) => [l.part, l.layer]), EXPECTED_LAYERS[name]);
    for (const l of a.perLayer) {
      const abs = sortedAbs(weights(model, map, (p) => p.part === l.part && p.layer === l.layer));
      assert.equal(l.params, abs.length);
      assert.equal(l.medianAbs, median(abs), `median of ${l.part} ${l.layer}`);
      a.cutoffs.forEach((c, i) => assert.equal(l.belowCutoff[i], countsBelow([abs], [c])[0] / abs.length));
      assert.equal(sum(l.linear!), l.params);
    }
    // Layers of one part have the same structure, so the same parameter count.
    for (const part of ["encoder", "decoder"]) {
      const counts = new Set(a.perLayer.filter((l) => l.part === part).map((l) => l.params));
      assert.ok(counts.size <= 1, `${part} layers differ in size: ${[...counts]}`);
    }
    const partsExpected = name === "pegasus" ? ["decoder", "encoder", "shared"] : name === "gpt2" ? ["decoder"] : ["encoder"];
    assert.deepEqual(Object.keys(a.byPart).sort(), partsExpected);
  });
}

test("fp16 and bf16 weights in external data give the statistics of their fp32 values", { skip: skipWithoutShared(TORCH_EXPORT.gpt2) }, (t) => {
  const model = readModel(TORCH_EXPORT.gpt2);
  const map = mapOrSkip(model);
  if (!map) return t.skip("mapModel is not built yet");
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-analyze-"));
  try {
    const graph = graphOf(model);
    const converted = new Map<string, Float32Array>();
    graph.initializer.forEach((tensor, i) => {
      const p = map.params.find((q) => q.name === tensor.name);
      // The 3.2M-value token table stays fp32 (external, read in slices) to keep the test quick.
      if (!p || !isCounted(p) || p.role === "token_embedding") return;
      const { data } = readFloat32(model, tensor);
      const bf16 = i % 2 === 0;
      const halves = Uint16Array.from(data, (x) => (bf16 ? floatToBfloat16(x) : floatToHalf(x)));
      tensor.dataType = bf16 ? DataType.BFLOAT16 : DataType.FLOAT16;
      tensor.rawData = new Uint8Array(halves.buffer);
      p.dataType = tensor.dataType;
      converted.set(tensor.name, new Float32Array(0));
    });
    const file = path.join(dir, "model.onnx");
    writeModel(model, file, { externalData: "always" });
    const half = readModel(file);
    const a = analyzeWeights({ params: map.params, source: onnxWeightSource(half), label: file, chunkElements: 4096 });
    const all = weights(half, map);
    const below = countsBelow(all, a.cutoffs);
    assert.equal(a.params.total, 3_324_736);
    a.cutoffs.forEach((c, i) => assert.equal(a.belowCutoff[i], below[i] / a.params.total, `|w| < ${c}`));
    assert.equal(a.zeros, brute(all, (x) => x === 0));
    for (const l of a.perLayer) assert.equal(l.medianAbs, median(sortedAbs(weights(half, map, (p) => p.layer === l.layer))));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("external fp32 data read in slices gives the same analysis as the inline file", { skip: skipWithoutShared(TORCH_EXPORT.pegasus) }, (t) => {
  const model = readModel(TORCH_EXPORT.pegasus);
  const map = mapOrSkip(model);
  if (!map) return t.skip("mapModel is not built yet");
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-analyze-"));
  try {
    const file = path.join(dir, "model.onnx");
    writeModel(model, file, { externalData: "always" });
    const clock = () => 0;
    const inline = analyzeWeights({ params: map.params, source: onnxWeightSource(model), label: "inline", clock });
    const source = onnxWeightSource(readModel(file));
    const external = analyzeWeights({ params: map.params, source, label: "external", clock, chunkElements: 50_000 });
    assert.deepEqual(external, inline);
    // Layers too large to hold are read twice, slice by slice: same numbers.
    const twice = analyzeWeights({ params: map.params, source, label: "external", clock, chunkElements: 3000, holdLayerElements: 1000 });
    assert.deepEqual(twice, inline);
    source.close();
    const wrong = map.params.map((p) => (p.name === "model.shared.weight" ? { ...p, count: p.count - 1 } : p));
    assert.throws(() => analyzeWeights({ params: wrong, source: onnxWeightSource(model), label: "x" }), /model\.shared\.weight.*the model map says/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
