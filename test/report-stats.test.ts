import { test } from "node:test";
import assert from "node:assert/strict";
import { mannWhitney } from "../src/report/stats/mann-whitney.ts";
import { bootstrapMedianRatio } from "../src/report/stats/bootstrap.ts";
import { compareLatency } from "../src/report/stats/latency.ts";
import { comparePerplexity } from "../src/report/stats/perplexity.ts";
import { normalDraws, seededRandom } from "../src/util/random.ts";
import { DEFAULT_THRESHOLDS } from "../src/report/options.ts";
import type { Perplexity } from "../src/results/schema.ts";

/** Latency-like samples: log-normal noise around `median`, with occasional slow outliers. */
function latencySamples(seed: number, n: number, median: number, sigma = 0.05): number[] {
  const random = seededRandom(seed);
  const normal = normalDraws(random);
  return Array.from({ length: n }, () => median * Math.exp(sigma * normal()) * (random() < 0.05 ? 1 + random() : 1));
}

test("Mann-Whitney exact p-values match the enumerated null distribution", () => {
  // Complete separation of 3 and 3: 2 of the C(6,3) = 20 arrangements are as extreme.
  const r = mannWhitney([1, 2, 3], [4, 5, 6]);
  assert.equal(r.method, "exact");
  assert.equal(r.u, 0);
  assert.ok(Math.abs(r.pValue - 0.1) < 1e-12);
  // U = 1 of 3 vs 3: P(U <= 1) = 2/20, two-sided 4/20.
  assert.equal(mannWhitney([1, 2, 4], [3, 5, 6]).u, 1);
  assert.ok(Math.abs(mannWhitney([1, 2, 4], [3, 5, 6]).pValue - 0.2) < 1e-12);
});

test("Mann-Whitney normal approximation with ties follows the tie-corrected formula", () => {
  const a = [1, 2, 2, 3, 4, 5, 5, 6, 7, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46];
  const b = [5, 6, 6, 7, 8, 9, 10, 11, 12];
  const r = mannWhitney(a, b);
  assert.equal(r.method, "normal");
  // Computed by hand: ranks with ties averaged, tie term sum(t^3 - t) = 6 + 24 + 24 + 6 = 60.
  const n1 = a.length;
  const n2 = b.length;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n1 + n2 + 1 - 60 / ((n1 + n2) * (n1 + n2 - 1)));
  const z = (Math.abs(r.u - mean) - 0.5) / Math.sqrt(variance);
  // U counted by pairs: a > b scores 1, ties 1/2.
  let u = 0;
  for (const x of a) for (const y of b) u += x > y ? 1 : x === y ? 0.5 : 0;
  assert.equal(r.u, u);
  // Two-sided tail of the normal at z, from a table-free series (erfc by numeric integration).
  let tail = 0;
  const step = 1e-4;
  for (let x = z; x < 12; x += step) tail += Math.exp(-((x + step / 2) ** 2) / 2) * step;
  assert.ok(Math.abs(r.pValue - (2 * tail) / Math.sqrt(2 * Math.PI)) < 1e-5, `${r.pValue}`);
  // Symmetric in its arguments.
  assert.ok(Math.abs(mannWhitney(b, a).pValue - r.pValue) < 1e-12);
  assert.equal(mannWhitney(b, a).u, n1 * n2 - r.u);
});

test("identical samples give p = 1", () => {
  const s = latencySamples(3, 40, 10);
  assert.ok(mannWhitney(s, s).pValue > 0.99);
  assert.equal(mannWhitney([5, 5, 5, 5, 5, 5], [5, 5, 5, 5, 5, 5]).pValue, 1);
});

test("bootstrap interval is seeded, contains the point ratio, and narrows with more samples", () => {
  const opts = { confidence: 0.99, resamples: 1000, seed: 7 };
  const a = latencySamples(1, 30, 10);
  const b = latencySamples(2, 30, 11);
  const r1 = bootstrapMedianRatio(a, b, opts);
  assert.deepEqual(r1, bootstrapMedianRatio(a, b, opts));
  assert.ok(r1.lo <= r1.ratio && r1.ratio <= r1.hi);
  const wide = bootstrapMedianRatio(latencySamples(1, 10, 10), latencySamples(2, 10, 10), opts);
  const narrow = bootstrapMedianRatio(latencySamples(1, 300, 10), latencySamples(2, 300, 10), opts);
  assert.ok(narrow.hi - narrow.lo < wide.hi - wide.lo);
});

test("A/A: 50 seeded pairs from one distribution are never called a regression", () => {
  const t = DEFAULT_THRESHOLDS.latency;
  const states: Record<string, number> = {};
  for (let i = 0; i < 50; i++) {
    const v = compareLatency(latencySamples(1000 + i, 30, 20), latencySamples(2000 + i, 30, 20), t);
    states[v.state] = (states[v.state] ?? 0) + 1;
    assert.notEqual(v.state, "regression", `pair ${i}: ${v.reason}`);
    assert.notEqual(v.state, "improvement", `pair ${i}: ${v.reason}`);
  }
  // With 30 samples of 5% noise the interval is about as wide as the threshold: many pairs
  // are honestly "inconclusive". With 300 samples nearly all are "no change".
  let unchanged = 0;
  for (let i = 0; i < 50; i++) {
    const v = compareLatency(latencySamples(5000 + i, 300, 20), latencySamples(6000 + i, 300, 20), { ...t, resamples: 400 });
    assert.notEqual(v.state, "regression", `pair ${i}: ${v.reason}`);
    if (v.state === "no-change") unchanged++;
  }
  assert.ok(unchanged >= 45, `${unchanged} of 50 large pairs unchanged; small pairs: ${JSON.stringify(states)}`);
});

test("a +10% shift with enough samples is a regression; -10% an improvement", () => {
  const t = DEFAULT_THRESHOLDS.latency;
  for (let i = 0; i < 10; i++) {
    const up = compareLatency(latencySamples(3000 + i, 60, 20), latencySamples(4000 + i, 60, 22), t);
    assert.equal(up.state, "regression", `seed ${i}: ${up.reason}`);
    assert.ok(up.change > 0.05 && up.interval[0] > 0);
    const down = compareLatency(latencySamples(3000 + i, 60, 22), latencySamples(4000 + i, 60, 20), t);
    assert.equal(down.state, "improvement", `seed ${i}: ${down.reason}`);
  }
});

test("a significant change below the threshold is no change; too few or too noisy is inconclusive", () => {
  const t = DEFAULT_THRESHOLDS.latency;
  const small = compareLatency(latencySamples(5, 400, 20, 0.01), latencySamples(6, 400, 20.4, 0.01), t);
  assert.equal(small.state, "no-change", small.reason);
  assert.ok(small.pValue < 0.01);
  assert.equal(compareLatency([1, 2, 3], [1, 2, 3, 4, 5, 6], t).state, "inconclusive");
  const noisy = compareLatency(latencySamples(7, 8, 20, 0.5), latencySamples(8, 8, 20, 0.5), t);
  assert.equal(noisy.state, "inconclusive", noisy.reason);
});

function ppl(token: number, extra: Partial<Perplexity> = {}): Perplexity {
  return { dataset: "wikitext-2-raw/test", protocol: "sliding-window", seqLen: 1024, stride: 512, token, word: token * 1.5, bitsPerByte: 1, nll: Math.log(token), tokens: 1000, words: 800, bytes: 5000, partial: false, seconds: 1, ...extra };
}

test("perplexity: relative and absolute tolerance, protocol mismatch, partial runs", () => {
  const t = DEFAULT_THRESHOLDS.perplexity;
  assert.equal(comparePerplexity(ppl(30), ppl(30.2), t).state, "no-change");
  assert.equal(comparePerplexity(ppl(30), ppl(30.4), t).state, "regression");
  assert.equal(comparePerplexity(ppl(30), ppl(29.6), t).state, "improvement");
  // 1% of 0.05 is below the absolute tolerance: float noise on tiny perplexities is no change.
  assert.equal(comparePerplexity(ppl(1.05), ppl(1.0505), { relative: 0.0001, absolute: 0.001 }).state, "no-change");
  assert.equal(comparePerplexity(ppl(30), ppl(31, { seqLen: 512 }), t).state, "not-comparable");
  assert.equal(comparePerplexity(ppl(30), ppl(31, { partial: true }), t).state, "inconclusive");
});
