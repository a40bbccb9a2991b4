import { test } from "node:test";
import assert from "node:assert/strict";
import { analyzeWeights, NonFiniteWeightsError, type WeightSource } from "../src/analyze/index.ts";
import { bucketLow, nearestBoundaryKey } from "../src/analyze/float-bits.ts";
import { spearman } from "../src/analyze/spearman.ts";
import { AnalysisSchema } from "../src/results/analysis.ts";
import type { ParamInfo } from "../src/models/types.ts";

const FLOAT = 1;

function param(name: string, count: number, extra: Partial<ParamInfo> = {}): ParamInfo {
  return { name, shape: [count], dataType: FLOAT, count, part: "encoder", layer: null, block: "other", role: "other", prunable: false, consumers: [], ...extra };
}

/** Deterministic normal-ish values (sum of uniforms) from a small LCG. */
function values(n: number, scale: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (next() + next() + next() + next() - 2) * scale;
  return out;
}

function memorySource(data: Map<string, Float32Array>): WeightSource {
  return {
    read(p, start, count, scratch) {
      const d = data.get(p.name)!;
      // Copy half the time, return a view otherwise: both paths must work.
      if (start % 2 === 0) return d.subarray(start, start + count);
      scratch.set(d.subarray(start, start + count));
      return scratch.subarray(0, count);
    },
  };
}

/** A small two-part model: embeddings, two encoder and three decoder layers, a head and a tied copy. */
function fixture() {
  const params: ParamInfo[] = [];
  const data = new Map<string, Float32Array>();
  const add = (p: ParamInfo, v: Float32Array) => {
    params.push(p);
    data.set(p.name, v);
  };
  const emb = values(5000, 0.05, 1);
  emb.set([0, -0, 0.1, Math.fround(0.1) - 1e-9, 0.01, -0.001, 1e-40, -1e-42, 0.0999999], 0);
  add(param("shared.weight", 5000, { part: "shared", block: "embedding", role: "token_embedding" }), emb);
  add(param("encoder.pos", 700, { block: "embedding", role: "position_embedding" }), values(700, 0.3, 2));
  for (const [part, layers] of [["encoder", 2], ["decoder", 3]] as const) {
    for (let l = 0; l < layers; l++) {
      const scale = 0.02 * (1 + l);
      const q = values(4096, scale, 10 + l);
      if (l === 1) q.fill(0, 0, 300);
      add(param(`${part}.${l}.q`, 4096, { part, layer: l, block: "attention", role: "q", prunable: true }), q);
      add(param(`${part}.${l}.fc`, 3000, { part, layer: l, block: "mlp", role: "fc_in", prunable: true }), values(3000, scale * 2, 20 + l));
      const ln = new Float32Array(64).map((_, i) => 1 + (i % 7) * 0.01);
      add(param(`${part}.${l}.ln`, 64, { part, layer: l, block: "norm", role: "norm_scale" }), ln);
      add(param(`${part}.${l}.bias`, 63, { part, layer: l, block: "mlp", role: "bias" }), values(63, 0.001, 30 + l));
    }
  }
  add(param("lm_head.weight", 5000, { part: "decoder", block: "head", role: "lm_head", duplicateOf: "shared.weight" }), emb);
  add(param("final_logits_bias", 100, { part: "decoder", block: "head", role: "bias" }), values(100, 1, 3));
  add(param("shape_const", 3, { dataType: 7 }), new Float32Array(3));
  return { params, data };
}

function brute(arrays: Float32Array[], pred: (x: number) => boolean): number {
  let n = 0;
  for (const a of arrays) for (const x of a) if (pred(x)) n++;
  return n;
}

test("counts, cutoffs, curves, histograms and medians equal brute force", () => {
  const { params, data } = fixture();
  const a = analyzeWeights({ params, source: memorySource(data), label: "fixture", chunkElements: 1024, cutoffs: [0.1, 0.01, 0.001, 0.05] });
  AnalysisSchema.parse(a);
  const counted = params.filter((p) => p.dataType === FLOAT && !p.duplicateOf && p.block !== "head");
  const total = counted.reduce((s, p) => s + p.count, 0);
  assert.equal(a.params.total, total);
  assert.equal(a.params.withHeads, total + 100);
  assert.equal(a.params.stored, total + 100 + 5000);
  assert.equal(a.params.byPart.shared, 5000);
  assert.equal(a.params.prunable, 5 * (4096 + 3000));
  const arrays = counted.map((p) => data.get(p.name)!);

  // Histograms add up to the parameter count.
  assert.equal(a.all.params, total);
  const sum = (h: { counts: number[]; under: number; over: number }) => h.counts.reduce((s, c) => s + c, 0) + h.under + h.over;
  assert.equal(sum(a.all.linear), total);
  assert.equal(sum(a.all.log10) + a.all.zeros, total);

  // Exact cutoffs and zeros.
  a.cutoffs.forEach((c, i) => assert.equal(a.belowCutoff[i], brute(arrays, (x) => Math.abs(x) < c) / total, `cutoff ${c}`));
  assert.equal(a.zeros, brute(arrays, (x) => x === 0));
  assert.equal(a.zeros, 2 + 2 * 300);

  // Raw curve and log10 bins at the reported edges.
  a.all.raw.cutoffs.forEach((c, i) => assert.equal(a.all.raw.fraction[i], brute(arrays, (x) => Math.abs(x) < c) / total));
  const edges = a.all.log10.edges!;
  a.all.log10.counts.forEach((n, i) => assert.equal(n, brute(arrays, (x) => Math.abs(x) >= edges[i] && Math.abs(x) < edges[i + 1])));
  // Linear bins.
  const { lo, hi, counts } = a.all.linear;
  const width = (hi - lo) / counts.length;
  const half = counts.length / 2;
  counts.forEach((n, i) => {
    const j = i >= half ? i - half : half - 1 - i;
    const inBin = (x: number) => (i >= half ? x >= 0 || Object.is(x, -0) ? x >= j * width && x < (j + 1) * width && !Object.is(x, -0) : false : x < 0 || Object.is(x, -0) ? -x >= j * width && -x < (j + 1) * width : false);
    assert.equal(n, brute(arrays, inBin), `linear bin ${i}`);
  });

  // Per part and per layer.
  for (const part of ["encoder", "decoder", "shared"]) {
    const ps = counted.filter((p) => p.part === part).map((p) => data.get(p.name)!);
    assert.equal(a.byPart[part].params, ps.reduce((s, x) => s + x.length, 0));
    assert.equal(a.byPart[part].raw.fraction[40], brute(ps, (x) => Math.abs(x) < a.all.raw.cutoffs[40]) / a.byPart[part].params);
  }
  assert.deepEqual(a.perLayer.map((l) => `${l.part}${l.layer}`), ["encoder0", "encoder1", "decoder0", "decoder1", "decoder2"]);
  for (const l of a.perLayer) {
    const ps = counted.filter((p) => p.part === l.part && p.layer === l.layer).map((p) => data.get(p.name)!);
    const abs = ps.flatMap((x) => Array.from(x, Math.abs)).sort((x, y) => x - y);
    assert.equal(l.params, abs.length);
    const mid = abs.length / 2;
    const median = abs.length % 2 ? abs[(abs.length - 1) / 2] : (abs[mid - 1] + abs[mid]) / 2;
    assert.equal(l.medianAbs, median, `median of ${l.part} ${l.layer}`);
    a.cutoffs.forEach((c, i) => assert.equal(l.belowCutoff[i], abs.filter((x) => x < c).length / abs.length));
    assert.equal(sum(l.linear!), l.params);
  }
  // Later layers were given a larger scale: the study's pattern holds in both parts.
  assert.deepEqual(a.earlierLayersSmaller.map((e) => [e.part, e.holds, e.spearman]), [["encoder", true, 1], ["decoder", true, 1]]);

  // Scale-free curve: |w| < c * sigma of the own tensor, the threshold snapped to a boundary.
  const scaledAt = (c: number) => {
    let n = 0;
    for (const x of arrays) {
      const mean = x.reduce((s, v) => s + v, 0) / x.length;
      const sigma = Math.sqrt(Math.max(0, x.reduce((s, v) => s + v * v, 0) / x.length - mean * mean));
      const t = bucketLow(nearestBoundaryKey(c * sigma));
      n += x.filter((v) => Math.abs(v) < t).length;
    }
    return n / total;
  };
  const i1 = a.all.scaleFree.cutoffs.indexOf(1);
  assert.ok(Math.abs(a.all.scaleFree.fraction[i1] - scaledAt(1)) < 2e-3, `${a.all.scaleFree.fraction[i1]} vs ${scaledAt(1)}`);
});

test("NaN and Inf are refused with an error naming every such tensor", () => {
  const { params, data } = fixture();
  data.get("encoder.1.fc")![5] = NaN;
  data.get("encoder.pos")![0] = -Infinity;
  assert.throws(
    () => analyzeWeights({ params, source: memorySource(data), label: "bad.onnx" }),
    (e: unknown) => e instanceof NonFiniteWeightsError && /^bad\.onnx: initializer "encoder\.pos": 1 Inf value; also "encoder\.1\.fc": 1 NaN value/.test(e.message),
  );
});

test("spearman with ties", () => {
  assert.equal(spearman([0, 1, 2, 3], [1, 2, 3, 4]), 1);
  assert.equal(spearman([0, 1, 2, 3], [4, 3, 2, 1]), -1);
  assert.equal(spearman([0, 1, 2], [5, 5, 5]), 0);
  assert.ok(Math.abs(spearman([0, 1, 2, 3], [1, 3, 2, 4]) - 0.8) < 1e-12);
});
