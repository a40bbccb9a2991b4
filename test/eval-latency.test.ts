import { test } from "node:test";
import assert from "node:assert/strict";
import { readModel } from "../src/onnx/index.ts";
import { measureLatency } from "../src/eval/latency.ts";
import { queryNvidiaSmi, runnerFingerprint } from "../src/eval/runner.ts";
import { createSession, cudaUnavailableReason } from "../src/eval/session.ts";
import { medianRelativePrecision, meanStd, quantile } from "../src/eval/stats.ts";
import { LatencySchema, RunnerSchema } from "../src/results/schema.ts";
import { TORCH_EXPORT, skipWithoutShared } from "./helpers/shared-data.ts";

test("quantiles, mean/std and the median's relative precision", () => {
  const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.equal(quantile(sorted, 0.5), 5.5);
  assert.equal(quantile(sorted, 0.9), 9.1);
  assert.deepEqual(meanStd([2, 4, 4, 4, 5, 5, 7, 9]), { mean: 5, std: Math.sqrt(32 / 7) });
  assert.equal(medianRelativePrecision([1, 1, 1]), Infinity);
  assert.equal(medianRelativePrecision(Array(100).fill(3)), 0);
  assert.ok(medianRelativePrecision(sorted) > 0.2);
});

test("runner fingerprint: GPU and driver from nvidia-smi when present, none otherwise", () => {
  const smi = queryNvidiaSmi(() => "NVIDIA H100 80GB HBM3, 550.54.15\nNVIDIA H100 80GB HBM3, 550.54.15\n");
  assert.deepEqual(smi, { gpu: "2x NVIDIA H100 80GB HBM3", driver: "550.54.15" });
  assert.equal(
    queryNvidiaSmi(() => {
      throw new Error("ENOENT");
    }),
    null,
  );
  const cpu = RunnerSchema.parse(runnerFingerprint({ provider: "cpu", gpu: null }));
  const gpu = RunnerSchema.parse(runnerFingerprint({ provider: "cuda", gpu: smi }));
  assert.equal(cpu.gpu, null);
  assert.equal(gpu.driver, "550.54.15");
  assert.notEqual(cpu.fingerprint, gpu.fingerprint);
  assert.equal(cpu.fingerprint, runnerFingerprint({ provider: "cpu", gpu: null }).fingerprint);
  assert.match(cpu.ort, /^1\.\d+/);
});

test("latency: warm-up, timed samples kept, stops at the run cap or budget", { skip: skipWithoutShared(TORCH_EXPORT.gpt2) }, async () => {
  const created = await createSession(readModel(TORCH_EXPORT.gpt2), { threads: 1 });
  try {
    const latency = await measureLatency({ session: created.session, family: "decoder", provider: "cpu", batch: 2, seqLen: 16, warmup: 2, minRuns: 5, maxRuns: 8, budgetMs: 60_000, targetPrecision: 0, threads: 1, sessionMs: created.createMs });
    const { partial, ...rest } = latency;
    assert.equal(partial, false);
    LatencySchema.parse(rest);
    assert.equal(latency.samplesMs.length, 8);
    assert.ok(latency.p50 <= latency.p90 && latency.p90 <= latency.p99);
    assert.ok(Math.abs(latency.tokensPerSecond - (2 * 16 * 1000) / latency.p50) < 1e-6);
    assert.ok(latency.sessionMs > 0);
    let calls = 0;
    const stopped = await measureLatency({ session: created.session, family: "decoder", provider: "cpu", batch: 1, seqLen: 8, warmup: 0, maxRuns: 100, sessionMs: 0, shouldStop: () => ++calls > 3 });
    assert.equal(stopped.partial, true);
    assert.equal(stopped.samplesMs.length, 3);
  } finally {
    await created.session.release();
  }
});

test("cuda falls back to cpu with a clear message where this onnxruntime build has no CUDA provider", { skip: skipWithoutShared(TORCH_EXPORT.gpt2) }, async () => {
  const reason = cudaUnavailableReason();
  const created = await createSession(readModel(TORCH_EXPORT.gpt2), { provider: "cuda" });
  await created.session.release();
  if (reason) {
    assert.equal(created.provider, "cpu");
    assert.match(created.warning ?? "", /cuda provider unavailable, running on cpu: .*libonnxruntime_providers_cuda/);
  } else {
    assert.ok(created.provider === "cuda" || /cuda provider failed/.test(created.warning ?? ""));
  }
});
