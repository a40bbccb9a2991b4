import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * action/bootstrap.js decides what to install from nvidia-smi. Fake nvidia-smi and npm on
 * PATH stand in for a GPU runner whose CUDA install fails: it must try the CUDA build, fall
 * back to the CPU build with a warning, and stop with a clear error when that fails too.
 * (npm never succeeds here, so the repository's node_modules are left alone.)
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

test("a GPU runner tries onnxruntime-node's CUDA build, then falls back to CPU with a warning", () => {
  const bin = mkdtempSync(path.join(os.tmpdir(), "pb-bootstrap-"));
  try {
    const calls = path.join(bin, "calls.txt");
    writeFileSync(path.join(bin, "nvidia-smi"), "#!/bin/sh\necho 'NVIDIA H200, 570.124.06'\n");
    writeFileSync(path.join(bin, "npm"), `#!/bin/sh\necho "$ONNXRUNTIME_NODE_INSTALL $*" >> ${JSON.stringify(calls)}\nexit 1\n`);
    chmodSync(path.join(bin, "nvidia-smi"), 0o755);
    chmodSync(path.join(bin, "npm"), 0o755);
    const run = spawnSync(process.execPath, [path.join(ROOT, "action/bootstrap.js")], {
      env: { PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME, RUNNER_TEMP: bin },
      encoding: "utf8",
    });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.deepEqual(readFileSync(calls, "utf8").trim().split("\n"), ["cuda12 ci --omit=dev --no-audit --no-fund", "skip ci --omit=dev --no-audit --no-fund"]);
    assert.match(run.stdout, /::warning::prunebench: installing the CUDA build of onnxruntime-node failed; falling back to CPU/);
    assert.match(run.stdout, /::error::prunebench: npm ci failed/);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test("detectGpu reads nvidia-smi, and is null without it or when forced to CPU", async () => {
  const bin = mkdtempSync(path.join(os.tmpdir(), "pb-gpu-"));
  const saved = { PATH: process.env.PATH, FORCE: process.env.PRUNEBENCH_FORCE_CPU };
  try {
    writeFileSync(path.join(bin, "nvidia-smi"), "#!/bin/sh\necho 'NVIDIA H200, 570.124.06'\necho 'NVIDIA H200, 570.124.06'\n");
    chmodSync(path.join(bin, "nvidia-smi"), 0o755);
    const { detectGpu } = await import("../action/bootstrap.js");
    process.env.PATH = `${bin}:${saved.PATH}`;
    assert.deepEqual(detectGpu(), { name: "NVIDIA H200", driver: "570.124.06" });
    process.env.PRUNEBENCH_FORCE_CPU = "true";
    assert.equal(detectGpu(), null);
    delete process.env.PRUNEBENCH_FORCE_CPU;
    process.env.PATH = "/nonexistent";
    assert.equal(detectGpu(), null);
  } finally {
    process.env.PATH = saved.PATH;
    if (saved.FORCE === undefined) delete process.env.PRUNEBENCH_FORCE_CPU;
    else process.env.PRUNEBENCH_FORCE_CPU = saved.FORCE;
    rmSync(bin, { recursive: true, force: true });
  }
});
