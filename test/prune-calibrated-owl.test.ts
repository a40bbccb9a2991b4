import { test } from "node:test";
import assert from "node:assert/strict";
import { outlierRatio, owlSparsities, parseOwlOptions } from "../src/prune/calibrated/owl.ts";
import { buildModel, mapModel } from "../src/models/index.ts";
import { pruneModel, PruneError, type PruneTarget } from "../src/prune/index.ts";
import "../src/prune/calibrated/index.ts";

test("OWL's per-layer sparsities average to the target, within a 2*lambda band, more outliers keeping more", () => {
  const ratios = [0.012, 0.03, 0.005, 0.02, 0.011, 0.05];
  const s = owlSparsities(ratios, 0.5, 0.08);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  assert.ok(Math.abs(mean - 0.5) < 1e-12, `mean ${mean}`);
  assert.ok(Math.abs(Math.max(...s) - Math.min(...s) - 0.16) < 1e-12);
  assert.equal(s.indexOf(Math.min(...s)), ratios.indexOf(Math.max(...ratios)));
  assert.equal(s.indexOf(Math.max(...s)), ratios.indexOf(Math.min(...ratios)));
  assert.deepEqual(owlSparsities([0.1, 0.1], 0.7, 0.08), [0.7, 0.7].map((v) => 1 - (1 - v)));
  assert.throws(() => owlSparsities([0, 1], 0.95, 0.08), PruneError);
  assert.throws(() => parseOwlOptions({ base: "magnitude" }), /owl option base/);
});

test("outlier ratio counts scores above M times the mean", () => {
  const t = { name: "w", shape: [2, 2], count: 4, layout: "in_out", weights: Float32Array.from([1, 1, 1, 100]) } as unknown as PruneTarget;
  // scores |w| * ||x||: [1, 1, 2, 200] with norms [1, 2]; mean 51, 5*mean 255: none; M = 1: one.
  const sq = new Map([["w", Float64Array.from([1, 4])]]);
  assert.equal(outlierRatio([t], sq, 5), 0);
  assert.equal(outlierRatio([t], sq, 1), 0.25);
});

for (const base of ["wanda", "sparsegpt"] as const) {
  test(`owl over ${base} prunes a built decoder so that the layers' sparsities average to the target`, async () => {
    const model = buildModel({ family: "decoder", preset: "tiny", sizes: { vocab: 300, layers: 3, positions: 64 }, seed: 2 });
    const map = mapModel(model);
    const tokens = Int32Array.from({ length: 2000 }, (_, i) => (i * 7919 + (i >> 3)) % 300);
    const calibration = { tokens, samples: 4, seqLen: 32, seed: 0, family: "decoder" as const };
    const { result } = await pruneModel(model, map, { method: "owl", options: { base }, sparsity: 0.5, calibration });
    const byLayer = new Map<number, { zeros: number; count: number }>();
    for (const m of result.matrices) {
      const layer = map.params.find((p) => p.name === m.name)!.layer!;
      const e = byLayer.get(layer) ?? { zeros: 0, count: 0 };
      e.zeros += m.zeros;
      e.count += m.count;
      byLayer.set(layer, e);
    }
    const layers = [...byLayer.values()].map((e) => e.zeros / e.count);
    assert.equal(layers.length, 3);
    const mean = layers.reduce((a, b) => a + b, 0) / layers.length;
    assert.ok(Math.abs(mean - 0.5) < 0.005, `layer sparsities ${layers.join(", ")}`);
    assert.ok(Math.max(...layers) - Math.min(...layers) > 0.1, `layer sparsities ${layers.join(", ")} should spread by ~2*lambda`);
  });
}
