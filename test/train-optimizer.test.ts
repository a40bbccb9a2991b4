/** AdamW, clipping, schedules and mask re-application on plain arrays. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { adamwStep, learningRate, newParamState, globalNorm } from "../src/train/optimizer.ts";

test("one AdamW step matches the formula (decoupled decay, bias correction)", () => {
  const s = newParamState("w", Float32Array.from([1, -2]), true);
  const g = Float32Array.from([0.5, -1]);
  adamwStep([s], [g], 0.1, 1, { weightDecay: 0.01 });
  // Step 1: m_hat = g, v_hat = g^2, so the Adam update is sign(g) (up to eps).
  assert.ok(Math.abs(s.value[0] - (1 - 0.1 * 1 - 0.1 * 0.01 * 1)) < 1e-6);
  assert.ok(Math.abs(s.value[1] - (-2 + 0.1 * 1 - 0.1 * 0.01 * -2)) < 1e-6);
});

test("biases and norms get no weight decay", () => {
  const s = newParamState("b", Float32Array.from([1]), false);
  adamwStep([s], [Float32Array.from([0])], 0.1, 1, { weightDecay: 0.5 });
  assert.equal(s.value[0], 1);
});

test("gradient clipping by global norm", () => {
  const states = [newParamState("a", new Float32Array(2), false), newParamState("b", new Float32Array(1), false)];
  const grads = [Float32Array.from([3, 0]), Float32Array.from([4])];
  assert.equal(globalNorm(states, grads), 5);
  const norm = adamwStep(states, grads, 0.01, 1, { clipNorm: 1 });
  assert.equal(norm, 5);
  // Clipped to 0.6, 0.8: m = 0.1 g, v = 0.001 g^2 -> update is still sign(g) at step 1.
  assert.ok(Math.abs(states[0].m[0] - 0.1 * 0.6) < 1e-7);
  assert.ok(Math.abs(states[1].m[0] - 0.1 * 0.8) < 1e-7);
});

test("masked weights are exactly zero after every step, and excluded from the norm", () => {
  const mask = Uint8Array.from([1, 0, 1, 0]);
  const s = newParamState("w", Float32Array.from([1, 2, 3, 4]), true, mask);
  assert.deepEqual(Array.from(s.value), [1, 0, 3, 0]);
  for (let t = 1; t <= 5; t++) {
    const g = Float32Array.from([0.1, 10, -0.2, -10]);
    assert.ok(Math.abs(globalNorm([s], [g]) - Math.hypot(0.1, 0.2)) < 1e-6);
    adamwStep([s], [g], 0.1, t, { weightDecay: 0.1, clipNorm: 1 });
    assert.ok(Object.is(s.value[1], 0) && Object.is(s.value[3], 0));
  }
  assert.notEqual(s.value[0], 1);
});

test("warm-up then linear or cosine decay", () => {
  const o = { lr: 1, steps: 110, warmup: 10, minLr: 0 };
  assert.equal(learningRate(0, { ...o, schedule: "linear" }), 0.1);
  assert.equal(learningRate(9, { ...o, schedule: "linear" }), 1);
  assert.equal(learningRate(10, { ...o, schedule: "linear" }), 1);
  assert.equal(learningRate(60, { ...o, schedule: "linear" }), 0.5);
  assert.ok(Math.abs(learningRate(60, { ...o, schedule: "cosine" }) - 0.5) < 1e-12);
  assert.ok(learningRate(35, { ...o, schedule: "cosine" }) > learningRate(35, { ...o, schedule: "linear" }));
  assert.equal(learningRate(110, { ...o, schedule: "cosine" }), 0);
  assert.equal(learningRate(50, { ...o, schedule: "constant" }), 1);
});
