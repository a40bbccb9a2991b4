import { test } from "node:test";
import assert from "node:assert/strict";
import { PruneError, nmMasks, parseNM, getMethod, type PruneTarget } from "../src/prune/index.ts";
import type { MatrixLayout, ParamInfo } from "../src/models/types.ts";
import { rng, tiedValues } from "./helpers/prune-model.ts";

function matrix(name: string, shape: [number, number], layout: MatrixLayout | undefined, weights: Float32Array): PruneTarget {
  const info = { name, shape, dataType: 1, count: weights.length, part: "decoder", layer: 0, block: "mlp", role: "fc_in", layout, prunable: true, consumers: [] } as ParamInfo;
  return { name, shape, count: weights.length, info, layout, weights, copies: [] };
}

/** Indices of one group: M consecutive inputs of one output, for either layout. */
function groups(shape: [number, number], layout: MatrixLayout, m: number): number[][] {
  const [rows, cols] = shape;
  const out: number[][] = [];
  if (layout === "in_out") {
    for (let c = 0; c < cols; c++) for (let g = 0; g < rows; g += m) out.push(Array.from({ length: m }, (_, j) => (g + j) * cols + c));
  } else {
    for (let r = 0; r < rows; r++) for (let g = 0; g < cols; g += m) out.push(Array.from({ length: m }, (_, j) => r * cols + g + j));
  }
  return out;
}

for (const layout of ["in_out", "out_in"] as const) {
  for (const [n, m] of [
    [2, 4],
    [1, 4],
    [3, 4],
    [4, 8],
    [1, 2],
  ]) {
    test(`${n}:${m} on a ${layout} matrix: every group keeps exactly ${n}, its largest |w| (lower index goes first on ties)`, () => {
      const shape: [number, number] = layout === "in_out" ? [16, 6] : [6, 16];
      const w = tiedValues(96, rng(n * 10 + m));
      const mask = nmMasks([matrix("w", shape, layout, w)], { n, m }).get("w")!;
      assert.equal(mask.pruned(), (96 * (m - n)) / m);
      for (const group of groups(shape, layout, m)) {
        const kept = group.filter((i) => mask.get(i));
        assert.equal(kept.length, n, `group ${group}`);
        const order = [...group].sort((a, b) => Math.abs(w[a]) - Math.abs(w[b]) || a - b);
        assert.deepEqual(new Set(kept), new Set(order.slice(m - n)), `group ${group}`);
      }
    });
  }
}

test("2:4 means 2 kept and 2 zeroed of each 4; the method fixes sparsity at 0.5", () => {
  const method = getMethod("nm");
  const options = method.parseOptions({ pattern: "2:4" });
  assert.deepEqual(options, { n: 2, m: 4 });
  assert.equal(method.impliedSparsity!(options), 0.5);
  assert.equal(method.impliedSparsity!(method.parseOptions({ pattern: "1:4" })), 0.75);
});

test("N:M refuses N > M, M not dividing the input dimension, a missing layout and NaN, naming what is wrong", () => {
  assert.throws(() => parseNM("5:4"), (e: unknown) => e instanceof PruneError && /N = 5 > M = 4/.test(e.message));
  assert.throws(() => parseNM("2-4"), /not N:M/);
  assert.throws(() => parseNM("0:4"), /positive integer/);
  const w = new Float32Array(6 * 10).fill(1);
  assert.throws(() => nmMasks([matrix("fc", [10, 6], "in_out", w)], { n: 2, m: 4 }), (e: unknown) => e instanceof PruneError && /fc: input dimension 10 is not a multiple of M = 4/.test(e.message));
  // The same matrix read as [out, in] has 6 inputs: still not a multiple of 4.
  assert.throws(() => nmMasks([matrix("fc", [10, 6], "out_in", w)], { n: 2, m: 4 }), /input dimension 6/);
  assert.throws(() => nmMasks([matrix("fc", [12, 6], undefined, new Float32Array(72))], { n: 2, m: 4 }), /no layout/);
  const nan = new Float32Array(16);
  nan[5] = NaN;
  assert.throws(() => nmMasks([matrix("fc", [4, 4], "in_out", nan)], { n: 2, m: 4 }), /fc: weight 5 is NaN/);
});
