import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * action/bootstrap.js installs dist/package.json's runtime packages and picks the
 * onnxruntime-node build from nvidia-smi. It runs here from a copy of the action (bootstrap.js
 * and dist/'s manifest) in a temporary folder, with fake nvidia-smi and npm on PATH: the fake
 * npm "installs" an onnxruntime-node with binaries for every system, whose CUDA install
 * script fails. Nothing touches the repository's own dist/ or the network.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

interface Rig {
  dir: string;
  bin: string;
  calls: string;
  run: (args?: string[], env?: NodeJS.ProcessEnv) => { status: number | null; out: string };
}

function rig(options: { gpu: boolean; npm: "ok" | "fails" | "missing"; cudaScript?: "fails" | "ok" }): Rig {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-bootstrap-"));
  const bin = path.join(dir, "bin");
  const calls = path.join(dir, "calls.txt");
  mkdirSync(path.join(dir, "action"), { recursive: true });
  mkdirSync(path.join(dir, "dist"), { recursive: true });
  mkdirSync(bin);
  cpSync(path.join(ROOT, "action/bootstrap.js"), path.join(dir, "action/bootstrap.js"));
  writeFileSync(path.join(dir, "dist/package.json"), "{}");
  writeFileSync(path.join(dir, "dist/package-lock.json"), "{}");
  writeFileSync(path.join(dir, "dist/action.js"), `console.log("ACTION RAN with provider " + process.env.PRUNEBENCH_PROVIDER);\n`);
  if (options.gpu) writeFileSync(path.join(bin, "nvidia-smi"), "#!/bin/sh\necho 'NVIDIA H200, 570.124.06'\n");
  if (options.npm !== "missing") {
    // A fake npm ci: onnxruntime-node with every system's binaries and a CUDA install script.
    const ort = "node_modules/onnxruntime-node";
    const script = options.npm === "fails"
      ? "echo 'npm error 403 Forbidden' >&2; exit 1"
      : [
          `mkdir -p ${ort}/script ${ort}/bin/napi-v6/linux/x64 ${ort}/bin/napi-v6/linux/arm64 ${ort}/bin/napi-v6/darwin/arm64 ${ort}/bin/napi-v6/win32/x64`,
          `for d in linux/x64 linux/arm64 darwin/arm64 win32/x64; do head -c 1000 /dev/zero > ${ort}/bin/napi-v6/$d/onnxruntime_binding.node; done`,
          `echo 'console.log("cuda install: " + process.env.ONNXRUNTIME_NODE_INSTALL); process.exit(${options.cudaScript === "ok" ? 0 : 1});' > ${ort}/script/install`,
        ].join("\n");
    writeFileSync(path.join(bin, "npm"), `#!/bin/sh\necho "$ONNXRUNTIME_NODE_INSTALL $* in $(basename $PWD)" >> ${JSON.stringify(calls)}\n${script}\n`);
  }
  for (const f of ["nvidia-smi", "npm"]) if (existsSync(path.join(bin, f))) chmodSync(path.join(bin, f), 0o755);
  return {
    dir,
    bin,
    calls,
    run: (args = [], env = {}) => {
      const r = spawnSync(process.execPath, [path.join(dir, "action/bootstrap.js"), ...args], {
        cwd: dir,
        env: { PATH: options.npm === "missing" ? bin : `${bin}:/usr/bin:/bin`, HOME: process.env.HOME, RUNNER_TEMP: dir, ...env },
        encoding: "utf8",
      });
      return { status: r.status, out: r.stdout + r.stderr };
    },
  };
}

test("a GPU runner installs once, tries the CUDA build, falls back to CPU with a warning, and keeps only its platform's binaries", () => {
  const r = rig({ gpu: true, npm: "ok", cudaScript: "fails" });
  try {
    const first = r.run();
    assert.equal(first.status, 0, first.out);
    assert.deepEqual(readFileSync(r.calls, "utf8").trim().split("\n"), ["skip ci --omit=dev --ignore-scripts --no-audit --no-fund in dist"]);
    assert.match(first.out, /cuda install: cuda12/);
    assert.match(first.out, /::warning::prunebench: installing the CUDA build of onnxruntime-node failed \(exit 1; its output is above\); falling back to CPU/);
    assert.match(first.out, /installed in [\d.]+ s, \d+ MB in dist\/node_modules/);
    assert.match(first.out, /ACTION RAN with provider cpu/);
    const napi = path.join(r.dir, "dist/node_modules/onnxruntime-node/bin/napi-v6");
    assert.deepEqual(readdirSync(napi), [process.platform]);
    assert.deepEqual(readdirSync(path.join(napi, process.platform)), [process.arch]);
    // The install is stamped: the next run on this (self-hosted) runner skips npm.
    const second = r.run();
    assert.equal(second.status, 0, second.out);
    assert.match(second.out, /runtime packages already installed \(cpu\), skipping npm ci/);
    assert.equal(readFileSync(r.calls, "utf8").trim().split("\n").length, 1);
  } finally {
    rmSync(r.dir, { recursive: true, force: true });
  }
});

test("--install-only installs and exits without running the Action", () => {
  const r = rig({ gpu: true, npm: "ok", cudaScript: "ok" });
  try {
    const run = r.run(["--install-only"]);
    assert.equal(run.status, 0, run.out);
    assert.match(run.out, /runtime packages installed \(cuda\); exiting \(--install-only\)/);
    assert.doesNotMatch(run.out, /ACTION RAN/);
  } finally {
    rmSync(r.dir, { recursive: true, force: true });
  }
});

test("a failed npm ci and a runner without npm each stop with one clear error", () => {
  const failing = rig({ gpu: false, npm: "fails" });
  const missing = rig({ gpu: false, npm: "missing" });
  try {
    const a = failing.run();
    assert.equal(a.status, 1, a.out);
    assert.match(a.out, /npm error 403 Forbidden/);
    assert.match(a.out, /::error::prunebench: npm ci in .*dist failed \(exit 1\); npm's output is above/);
    const b = missing.run();
    assert.equal(b.status, 1, b.out);
    assert.match(b.out, /::error::prunebench: npm is not on this runner's PATH.*--install-only/);
    assert.doesNotMatch(b.out, /ACTION RAN/);
  } finally {
    rmSync(failing.dir, { recursive: true, force: true });
    rmSync(missing.dir, { recursive: true, force: true });
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
