import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Bitmask,
  PruneError,
  floatKeys,
  globalMagnitudeMasks,
  keyToFloat,
  magnitudeMasks,
  prunedCount,
  randomMasks,
  selectSmallest,
  type PruneTarget,
} from "../src/prune/index.ts";
import type { ParamInfo } from "../src/models/types.ts";
import { rng, tiedValues } from "./helpers/prune-model.ts";

function target(name: string, weights: Float32Array, shape = [weights.length]): PruneTarget {
  const info = { name, shape, dataType: 1, count: weights.length, part: "decoder", layer: 0, block: "mlp", role: "fc_in", prunable: true, consumers: [] } as ParamInfo;
  return { name, shape, count: weights.length, info, weights, copies: [] };
}

/** The reference: a stable sort of every weight by |w|, then by (tensor, index); the first k go. */
function bruteForce(tensors: Float32Array[], k: number): boolean[][] {
  const all: { t: number; i: number; a: number }[] = [];
  tensors.forEach((w, t) => w.forEach((v, i) => all.push({ t, i, a: Math.abs(v) })));
  all.sort((x, y) => x.a - y.a || x.t - y.t || x.i - y.i);
  const keep = tensors.map((w) => Array.from(w, () => true));
  for (let j = 0; j < k; j++) keep[all[j].t][all[j].i] = false;
  return keep;
}

function bits(mask: Bitmask): boolean[] {
  return Array.from({ length: mask.length }, (_, i) => mask.get(i));
}

test("per-matrix magnitude masks equal a brute-force sort on tensors with many ties", () => {
  const random = rng(7);
  for (const n of [1, 7, 64, 1000, 4099]) {
    const w = tiedValues(n, random);
    for (const s of [0, 0.1, 0.25, 0.5, 0.73, 0.9, 0.999]) {
      const k = prunedCount(s, n);
      const mask = magnitudeMasks([target("w", w)], s).get("w")!;
      assert.deepEqual(bits(mask), bruteForce([w], k)[0], `n=${n} s=${s}`);
      assert.equal(mask.pruned(), k);
    }
  }
});

test("global magnitude: one threshold over all tensors, equal to the brute-force k-th smallest |w|", () => {
  const random = rng(11);
  // Different scales per tensor, so a per-matrix and a global selection differ.
  const tensors = [tiedValues(300, random), tiedValues(1200, random).map((v) => v / 8), tiedValues(77, random).map((v) => v * 3)];
  const total = tensors.reduce((n, w) => n + w.length, 0);
  for (const s of [0.05, 0.3, 0.5, 0.8]) {
    const k = prunedCount(s, total);
    const { masks, threshold } = globalMagnitudeMasks(tensors.map((w, i) => target(`t${i}`, w)), s);
    const reference = bruteForce(tensors, k);
    tensors.forEach((_, i) => assert.deepEqual(bits(masks.get(`t${i}`)!), reference[i], `s=${s} tensor ${i}`));
    const sorted = tensors.flatMap((w) => Array.from(w, Math.abs)).sort((a, b) => a - b);
    assert.equal(keyToFloat(threshold), sorted[k - 1], `threshold at s=${s}`);
    assert.equal([...masks.values()].reduce((n, m) => n + m.pruned(), 0), k);
  }
});

test("selection over raw keys matches sorting for the full 32-bit range", () => {
  const random = rng(3);
  const keys = Uint32Array.from({ length: 5000 }, () => (random() < 0.3 ? 0xffff0000 + Math.floor(random() * 4) : Math.floor(random() * 2 ** 32)));
  const sorted = [...keys].sort((a, b) => a - b);
  for (const k of [1, 10, 2500, 4999, 5000]) {
    const sel = selectSmallest([{ name: "k", keys }], k, { abs: false });
    assert.equal(sel.threshold, sorted[k - 1]);
    assert.equal(sel.below + sel.ties, k);
  }
});

test("exactly round(s*n) weights go, rounding halves to even as torch does", () => {
  assert.equal(prunedCount(0.5, 5), 2);
  assert.equal(prunedCount(0.5, 7), 4);
  assert.equal(prunedCount(0.3, 10), 3);
  assert.equal(prunedCount(0, 10), 0);
  const w = Float32Array.from([0.5, -0.5, 0.5, 0.1, -0.5]);
  const mask = magnitudeMasks([target("w", w)], 0.5).get("w")!;
  // k=2: 0.1 first, then the first of the tied 0.5s by index.
  assert.deepEqual(bits(mask), [false, true, true, false, true]);
});

test("zeros and negative zeros tie, infinities rank last, NaN is refused with its tensor and index", () => {
  const w = Float32Array.from([-0, 3, 0, -Infinity, 1e-30, -0]);
  assert.deepEqual(bits(magnitudeMasks([target("w", w)], 0.5).get("w")!), [false, true, false, true, true, false]);
  const bad = Float32Array.from([1, 2, NaN, 4]);
  assert.throws(() => globalMagnitudeMasks([target("ok", new Float32Array(4)), target("bad", bad)], 0.5), (e: unknown) => e instanceof PruneError && /bad: weight 2 is NaN/.test(e.message));
});

test("keys are views of the weights, not copies", () => {
  const w = new Float32Array(16);
  assert.equal(floatKeys(w).buffer, w.buffer);
});

test("random: exactly round(s*n) per matrix, the same for a seed, different across seeds", () => {
  const w = new Float32Array(1001).fill(1);
  const a = randomMasks([target("w", w)], 0.4, 5).get("w")!;
  const b = randomMasks([target("w", w)], 0.4, 5).get("w")!;
  const c = randomMasks([target("w", w)], 0.4, 6).get("w")!;
  assert.equal(a.pruned(), prunedCount(0.4, 1001));
  assert.deepEqual(a.bits, b.bits);
  assert.notDeepEqual(a.bits, c.bits);
  // Roughly uniform: each half of the tensor loses about 40%.
  const firstHalf = bits(a).slice(0, 500).filter((k) => !k).length;
  assert.ok(firstHalf > 150 && firstHalf < 250, `first half lost ${firstHalf}`);
});

test("Bitmask: transposed masks and trailing bits", () => {
  const m = Bitmask.full(6);
  assert.equal(m.kept(), 6);
  m.prune(1);
  const t = m.transposed(2, 3);
  assert.deepEqual(bits(t), [true, true, false, true, true, true]);
  const w = Float32Array.from([1, 2, 3, 4, 5, 6]);
  assert.equal(m.apply(w), 1);
  assert.deepEqual([...w], [1, 0, 3, 4, 5, 6]);
});

test("Bitmask.kept counts the set bits, on aligned and unaligned bytes and any length", () => {
  const random = rng(11);
  for (const length of [0, 1, 7, 8, 31, 32, 33, 1000, 4097]) {
    const bytes = new Uint8Array(Math.ceil(length / 8) + 1);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
    if (length % 8) bytes[Math.ceil(length / 8) - 1] &= (1 << length % 8) - 1;
    for (const view of [bytes.slice(0, Math.ceil(length / 8)), bytes.subarray(1, 1 + Math.ceil(length / 8))]) {
      if (length % 8 && view.length) view[view.length - 1] &= (1 << length % 8) - 1;
      let expected = 0;
      for (let i = 0; i < length; i++) expected += (view[i >>> 3] >>> (i & 7)) & 1;
      assert.equal(new Bitmask(length, view).kept(), expected, `length ${length}, offset ${view.byteOffset}`);
    }
  }
});
