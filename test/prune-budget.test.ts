import { test } from "node:test";
import assert from "node:assert/strict";
import { maxBudgetEvaluations, searchBudget, type BudgetPoint } from "../src/prune/budget.ts";

/** A monotone cost curve: increase = (s / knee)^3 * 2%, so it crosses +2% at the knee. */
function curve(knee: number) {
  const calls: number[] = [];
  const evaluate = async (sparsity: number): Promise<BudgetPoint> => {
    calls.push(sparsity);
    return { sparsity, increase: 0.02 * (sparsity / knee) ** 3, run: `m@${sparsity}` };
  };
  return { calls, evaluate };
}

test("bisection on the tolerance grid brackets the crossing: within at the found point, beyond one step up", async () => {
  for (const knee of [0.013, 0.2, 0.333, 0.475, 0.61, 0.905, 0.995]) {
    const { calls, evaluate } = curve(knee);
    const s = await searchBudget({ maxIncrease: 0.02, tolerance: 0.01, evaluate });
    assert.ok(s.within.increase <= 0.02, `knee ${knee}: found point within`);
    assert.ok(Math.abs(s.within.sparsity - Math.floor(knee * 100 + 1e-9) / 100) < 1e-9, `knee ${knee}: found ${s.within.sparsity}`);
    if (s.beyond) {
      assert.ok(s.beyond.increase > 0.02);
      assert.ok(Math.abs(s.beyond.sparsity - s.within.sparsity - 0.01) < 1e-9, `knee ${knee}: bracket ${s.within.sparsity}..${s.beyond.sparsity}`);
    } else assert.equal(s.within.sparsity, 0.99);
    assert.equal(s.evaluations, calls.length);
    assert.ok(calls.length <= maxBudgetEvaluations(0.01), `knee ${knee}: ${calls.length} evaluations`);
    assert.equal(new Set(calls).size, calls.length, "no point is evaluated twice");
  }
  assert.equal(maxBudgetEvaluations(0.01), 7);
  assert.equal(maxBudgetEvaluations(0.05), 5);
});

test("known points narrow the first bracket and are not evaluated again", async () => {
  const { calls, evaluate } = curve(0.475);
  const known = [0.3, 0.5, 0.7].map((sparsity) => ({ sparsity, increase: 0.02 * (sparsity / 0.475) ** 3, run: `sweep@${sparsity}` }));
  const s = await searchBudget({ maxIncrease: 0.02, tolerance: 0.01, evaluate, known });
  assert.equal(s.within.sparsity, 0.47);
  assert.equal(s.beyond?.sparsity, 0.48);
  assert.ok(calls.every((c) => c > 0.3 && c < 0.5), `evaluated inside the sweep's bracket: ${calls.join(", ")}`);
  assert.ok(calls.length <= 5, `${calls.length} evaluations for a 20-point bracket`);
  assert.equal(s.reused, 2, "the sweep's 30% and 50% were the first bracket");
  assert.deepEqual(s.points.map((p) => p.sparsity).slice(0, 1), [0.3]);
});

test("a budget that even the first grid point exceeds finds dense", async () => {
  const s = await searchBudget({ maxIncrease: 0.001, tolerance: 0.05, evaluate: async (sparsity) => ({ sparsity, increase: 0.01 + sparsity, run: `m@${sparsity}` }) });
  assert.equal(s.within.run, "dense");
  assert.equal(s.within.sparsity, 0);
  assert.equal(s.beyond?.sparsity, 0.05);
});
