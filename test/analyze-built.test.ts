import { test } from "node:test";
import assert from "node:assert/strict";
import { analyzeModel } from "../src/analyze/index.ts";
import { buildModel, type ArchitectureConfig, type BuildOptions } from "../src/models/index.ts";
import type { Family } from "../src/models/types.ts";
import type { OnnxModel } from "../src/onnx/index.ts";

/**
 * torch's num_parameters() of the base models, written out here independently of the builders:
 * GPT2Model; BertModel with its pooler; PegasusModel with one sinusoidal table per stack.
 */
function torchBaseCount(family: Family, s: ArchitectureConfig): number {
  const { dModel: d, dFF: f, vocab: v, positions: p, layers: l } = s;
  const lin = (i: number, o: number) => i * o + o;
  const ln = 2 * d;
  const ffn = lin(d, f) + lin(f, d);
  if (family === "decoder") return v * d + p * d + l * (ln + lin(d, 3 * d) + lin(d, d) + ln + ffn) + ln;
  if (family === "encoder") return v * d + p * d + 2 * d + ln + l * (4 * lin(d, d) + ln + ffn + ln) + lin(d, d);
  const dl = s.decoderLayers ?? l;
  return v * d + 2 * p * d + l * (4 * lin(d, d) + 2 * ln + ffn) + ln + dl * (8 * lin(d, d) + 3 * ln + ffn) + ln;
}

test("the study's parameter counts follow from the full-size shapes", () => {
  const full = { heads: 12, dFF: 3072, dModel: 768 };
  assert.equal(torchBaseCount("encoder", { ...full, layers: 12, vocab: 30522, positions: 512 }), 109_482_240);
  assert.equal(torchBaseCount("decoder", { ...full, layers: 12, vocab: 50257, positions: 1024 }), 124_439_808);
  assert.equal(
    torchBaseCount("encoder-decoder", { layers: 16, decoderLayers: 16, dModel: 1024, heads: 16, dFF: 4096, vocab: 96103, positions: 1024 }),
    570_797_056,
  );
});

function buildOrSkip(options: BuildOptions): OnnxModel | undefined {
  try {
    return buildModel(options);
  } catch (error) {
    if (/not built yet/.test((error as Error).message)) return undefined;
    throw error;
  }
}

const SIZES: ArchitectureConfig = { layers: 3, decoderLayers: 2, dModel: 32, heads: 4, dFF: 48, vocab: 500, positions: 40 };

for (const family of ["decoder", "encoder", "encoder-decoder"] as const) {
  test(`built ${family}: the analysis counts torch's base model and groups every layer`, (t) => {
    const model = buildOrSkip({ family, sizes: SIZES, seed: 3 });
    if (!model) return t.skip("builders are not built yet");
    const { analysis: a, map } = analyzeModel({ model, family });
    assert.equal(a.params.total, torchBaseCount(family, SIZES));
    const sum = (h: { counts: number[]; under: number; over: number }) => h.counts.reduce((s, c) => s + c, 0) + h.under + h.over;
    assert.equal(sum(a.all.linear), a.params.total);
    assert.equal(sum(a.all.log10) + a.all.zeros, a.params.total);

    const expected =
      family === "decoder" ? [0, 1, 2].map((l) => `decoder${l}`) : family === "encoder" ? [0, 1, 2].map((l) => `encoder${l}`) : ["encoder0", "encoder1", "encoder2", "decoder0", "decoder1"];
    assert.deepEqual(a.perLayer.map((l) => `${l.part}${l.layer}`), expected);
    const lin = (i: number, o: number) => i * o + o;
    const { dModel: d, dFF: f } = SIZES;
    const layerSize = (part: string) =>
      family === "decoder" ? 4 * d + lin(d, 3 * d) + lin(d, d) + lin(d, f) + lin(f, d)
      : part === "encoder" ? 4 * lin(d, d) + 4 * d + lin(d, f) + lin(f, d)
      : 8 * lin(d, d) + 6 * d + lin(d, f) + lin(f, d);
    for (const l of a.perLayer) assert.equal(l.params, layerSize(l.part), `${l.part} ${l.layer}`);
    // Built matrices are N(0, 0.02) (GPT-2's output projections smaller): 38% or more below 0.01.
    const i = a.cutoffs.indexOf(0.01);
    assert.ok(a.prunableBelowCutoff![i] > 0.3 && a.prunableBelowCutoff![i] < 0.7, String(a.prunableBelowCutoff![i]));
    assert.ok(map.params.length > 0);
  });
}
