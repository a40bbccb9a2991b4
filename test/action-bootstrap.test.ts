import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildInstaller } from "../scripts/build-dist.ts";
import { lockOf, packPackage, sriOf, startRegistry, type FakeRegistry, type Packed } from "./helpers/fake-registry.ts";

/**
 * action/bootstrap.js installs dist/package-lock.json's runtime packages and picks the
 * onnxruntime-node build from nvidia-smi. It runs here from a copy of the action (bootstrap.js,
 * its registry installer and dist/'s manifest) in a temporary folder, against a local registry
 * that serves real tarballs made by `npm pack` (an onnxruntime-node with binaries for every
 * system and a CUDA install script, onnxruntime-common, and adm-zip, which only the CUDA
 * install script needs), with fake nvidia-smi and npm on
 * PATH: the fake npm "installs" the same onnxruntime-node the way npm ci would (every system's
 * binaries). Nothing touches the repository's own dist/ or the network.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const LONG_NAME = `lib/${"nested/".repeat(12)}${"a".repeat(120)}.js`;
const SYSTEMS = ["linux/x64", "linux/arm64", "darwin/arm64", "win32/x64"];

let ort: Packed;
let common: Packed;
let admZip: Packed;
/** The lock as build-dist writes it: onnxruntime-node needs onnxruntime-common, and adm-zip for its install script. */
const lockWith = (node: Packed = ort) => lockOf([{ ...node, dependencies: ["onnxruntime-common", "adm-zip"] }, common, admZip]);
before(() => {
  const binaries = Object.fromEntries(SYSTEMS.map((s) => [`bin/napi-v6/${s}/onnxruntime_binding.node`, randomBytes(4000)]));
  const cudaScript = `console.log("cuda install: " + process.env.ONNXRUNTIME_NODE_INSTALL); process.exit(process.env.PB_CUDA_SCRIPT === "ok" ? 0 : 1);\n`;
  ort = packPackage("onnxruntime-node", "1.30.0", { ...binaries, "dist/index.js": "module.exports = {};\n", "script/install.js": cudaScript, [LONG_NAME]: "// a path of 230 characters (a pax header)\n" });
  common = packPackage("onnxruntime-common", "1.30.0", { "dist/index.js": "module.exports = {};\n" });
  admZip = packPackage("adm-zip", "0.6.1", { "adm-zip.js": "module.exports = {};\n" });
});

interface Rig {
  dir: string;
  calls: string;
  registry: FakeRegistry;
  run: (args?: string[], env?: NodeJS.ProcessEnv, onOutput?: (out: string) => void) => Promise<{ status: number | null; out: string }>;
  close: () => Promise<void>;
}

const rigs: Rig[] = [];
after(async () => {
  for (const r of rigs) await r.close();
});

async function rig(options: { gpu: boolean; npm: "ok" | "fails" | "missing"; lock?: string }): Promise<Rig> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-bootstrap-"));
  const bin = path.join(dir, "bin");
  const calls = path.join(dir, "calls.txt");
  mkdirSync(path.join(dir, "dist"), { recursive: true });
  mkdirSync(path.join(dir, "home"));
  mkdirSync(bin);
  cpSync(path.join(ROOT, "action/bootstrap.js"), path.join(dir, "action/bootstrap.js"));
  // Built fresh, as build:dist bundles it (node-tar inside): the rig has no node_modules, as a runner has none.
  await buildInstaller(path.join(dir, "dist"));
  writeFileSync(path.join(dir, "dist/package.json"), "{}");
  writeFileSync(path.join(dir, "dist/package-lock.json"), options.lock ?? lockWith());
  // The Action as the real one behaves: starts, then waits for the install where it needs onnxruntime-node.
  writeFileSync(
    path.join(dir, "dist/action.js"),
    [
      `console.log("ACTION STARTED");`,
      `try { await globalThis[Symbol.for("prunebench.runtimeInstall")]; } catch (e) { console.log("ACTION SAW: " + e.message); }`,
      `console.log("ACTION RAN with provider " + process.env.PRUNEBENCH_PROVIDER);`,
    ].join("\n"),
  );
  if (options.gpu) writeFileSync(path.join(bin, "nvidia-smi"), "#!/bin/sh\necho 'NVIDIA H200, 570.124.06'\n");
  if (options.npm !== "missing") {
    // A fake npm ci: unpacks the same onnxruntime-node tarball, every system's binaries included.
    const tgz = path.join(dir, "ort.tgz");
    writeFileSync(tgz, ort.tarball);
    const script = options.npm === "fails"
      ? "echo 'npm error 403 Forbidden' >&2; exit 1"
      : `mkdir -p node_modules/onnxruntime-node && tar -xzf ${JSON.stringify(tgz)} -C node_modules/onnxruntime-node --strip-components=1`;
    writeFileSync(path.join(bin, "npm"), `#!/bin/sh\necho "$ONNXRUNTIME_NODE_INSTALL $* in $(basename $(dirname $PWD))" >> ${JSON.stringify(calls)}\n${script}\n`);
  }
  for (const f of ["nvidia-smi", "npm"]) if (existsSync(path.join(bin, f))) chmodSync(path.join(bin, f), 0o755);
  const registry = await startRegistry([ort, common, admZip]);
  const r: Rig = {
    dir,
    calls,
    registry,
    run: (args = [], env = {}, onOutput) =>
      new Promise((resolve) => {
        const merged: NodeJS.ProcessEnv = { PATH: options.npm === "missing" ? bin : `${bin}:/usr/bin:/bin`, HOME: path.join(dir, "home"), RUNNER_TEMP: dir, npm_config_registry: registry.url, ...env };
        const child = spawn(process.execPath, [path.join(dir, "action/bootstrap.js"), ...args], {
          cwd: dir,
          env: Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)),
        });
        let out = "";
        const take = (chunk: Buffer) => {
          out += chunk.toString();
          onOutput?.(out);
        };
        child.stdout.on("data", take);
        child.stderr.on("data", take);
        child.on("close", (status) => resolve({ status, out }));
      }),
    close: async () => {
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  rigs.push(r);
  return r;
}

const npmCalls = (r: Rig) => (existsSync(r.calls) ? readFileSync(r.calls, "utf8").trim().split("\n") : []);
const leftovers = (r: Rig) => readdirSync(path.join(r.dir, "dist")).filter((n) => n.startsWith(".install-"));
const napiDir = (r: Rig) => path.join(r.dir, "dist/node_modules/onnxruntime-node/bin/napi-v6");

/** A previous install (another lock's): what a failed install must leave as it was. */
function previousInstall(r: Rig): string {
  const marker = path.join(r.dir, "dist/node_modules/previous-install.txt");
  mkdirSync(path.dirname(marker), { recursive: true });
  writeFileSync(marker, "kept");
  writeFileSync(path.join(r.dir, "dist/node_modules/.prunebench-install.json"), JSON.stringify({ lock: "another" }));
  return marker;
}

test("a CPU runner installs from the registry .npmrc names, with its token, only its own platform's binaries and no CUDA installer; a second run skips", async () => {
  const r = await rig({ gpu: false, npm: "ok" });
  r.registry.token = "s3cret";
  const npmrc = path.join(r.dir, "npmrc");
  writeFileSync(npmrc, `; as actions/setup-node writes it\nregistry=\${PB_REGISTRY}\n//${new URL(r.registry.url).host}/:_authToken=\${PB_TOKEN}\n`);
  const env = { npm_config_registry: undefined, NPM_CONFIG_USERCONFIG: npmrc, PB_REGISTRY: r.registry.url, PB_TOKEN: "s3cret" };
  const first = await r.run([], env);
  assert.equal(first.status, 0, first.out);
  assert.match(first.out, new RegExp(`installed in [\\d.]+ s \\(2 packages from ${r.registry.url.replace(/[.]/g, "\\.")}\\), \\d+ MB in dist/node_modules`));
  assert.match(first.out, /ACTION RAN with provider cpu/);
  assert.deepEqual(npmCalls(r), [], "npm is not used");
  assert.deepEqual(r.registry.requests.map((q) => `${q.path} ${q.authorization}`).sort(), ["/onnxruntime-common/-/onnxruntime-common-1.30.0.tgz Bearer s3cret", "/onnxruntime-node/-/onnxruntime-node-1.30.0.tgz Bearer s3cret"]);
  assert.ok(!existsSync(path.join(r.dir, "dist/node_modules/adm-zip")), "only the CUDA install script needs adm-zip");
  assert.deepEqual(readdirSync(napiDir(r)), [process.platform]);
  assert.deepEqual(readdirSync(path.join(napiDir(r), process.platform)), [process.arch]);
  assert.equal(readFileSync(path.join(r.dir, "dist/node_modules/onnxruntime-node", LONG_NAME), "utf8"), "// a path of 230 characters (a pax header)\n");
  assert.ok(existsSync(path.join(r.dir, "dist/node_modules/onnxruntime-common/dist/index.js")));
  assert.deepEqual(leftovers(r), []);
  const second = await r.run([], env);
  assert.equal(second.status, 0, second.out);
  assert.match(second.out, /runtime packages already installed \(cpu\), skipping the install/);
  assert.equal(r.registry.requests.length, 2);
});

test("the Action starts while the install downloads, and waits for it where it needs onnxruntime-node", async () => {
  const r = await rig({ gpu: false, npm: "ok" });
  r.registry.answer = "hold";
  // The registry answers only once the Action has started: the order below cannot come by chance.
  const run = await r.run([], {}, (out) => out.includes("ACTION STARTED") && r.registry.release());
  assert.equal(run.status, 0, run.out);
  const at = (s: string) => run.out.indexOf(s);
  assert.ok(at("ACTION STARTED") >= 0 && at("ACTION STARTED") < at("prunebench: installed in"), run.out);
  assert.ok(at("prunebench: installed in") < at("ACTION RAN with provider cpu"), run.out);
});

test("a GPU runner runs the CUDA install script, and falls back to CPU with a warning when it fails", async () => {
  const r = await rig({ gpu: true, npm: "ok" });
  const failing = await r.run();
  assert.equal(failing.status, 0, failing.out);
  assert.match(failing.out, /installed in [\d.]+ s \(3 packages from/);
  assert.ok(existsSync(path.join(r.dir, "dist/node_modules/adm-zip/adm-zip.js")), "the CUDA install script's dependencies are installed");
  assert.match(failing.out, /cuda install: cuda12/);
  assert.match(failing.out, /::warning::prunebench: installing the CUDA build of onnxruntime-node failed \(exit 1; its output is above\); falling back to CPU/);
  assert.match(failing.out, /ACTION RAN with provider cpu/);
  const other = await rig({ gpu: true, npm: "ok" });
  const ok = await other.run(["--install-only"], { PB_CUDA_SCRIPT: "ok" });
  assert.equal(ok.status, 0, ok.out);
  assert.match(ok.out, /runtime packages installed \(cuda\); exiting \(--install-only\)/);
  assert.doesNotMatch(ok.out, /ACTION/);
});

test("a tarball that does not match the lock's integrity is refused: the job fails, npm is not tried, the previous install stays", async () => {
  const r = await rig({ gpu: false, npm: "ok", lock: lockWith({ ...ort, integrity: sriOf(Buffer.from("another tarball")) }) });
  const marker = previousInstall(r);
  const run = await r.run();
  assert.equal(run.status, 1, run.out);
  assert.match(run.out, /::error::prunebench: http:\/\/127\.0\.0\.1:\d+\/onnxruntime-node\/-\/onnxruntime-node-1\.30\.0\.tgz does not match the lock's integrity \(sha512-.*\): refusing to install it/);
  // The Action, which started meanwhile, learns it where it waits for the install.
  assert.match(run.out, /ACTION SAW: the runtime packages \(onnxruntime-node\) could not be installed; the error is above/);
  assert.deepEqual(npmCalls(r), []);
  assert.deepEqual(readdirSync(path.join(r.dir, "dist/node_modules")).sort(), [".prunebench-install.json", "previous-install.txt"]);
  assert.equal(readFileSync(marker, "utf8"), "kept");
  assert.deepEqual(leftovers(r), []);
});

test("a download cut off halfway leaves nothing installed, and npm ci takes over (its output and failure reported)", async () => {
  const failing = await rig({ gpu: false, npm: "fails" });
  failing.registry.answer = "truncate";
  const marker = previousInstall(failing);
  const a = await failing.run();
  assert.equal(a.status, 1, a.out);
  assert.match(a.out, /::warning::prunebench: fetching the runtime packages from the registry failed \(http:\/\/127\.0\.0\.1:\d+\/onnxruntime-\w+\/-\/.*\.tgz: .*\); installing them with npm ci instead/);
  assert.match(a.out, /npm error 403 Forbidden/);
  assert.match(a.out, /::error::prunebench: npm ci failed \(exit 1\); npm's output is above/);
  assert.equal(readFileSync(marker, "utf8"), "kept");
  assert.ok(!existsSync(path.join(failing.dir, "dist/node_modules/onnxruntime-node")));
  assert.deepEqual(leftovers(failing), []);

  const working = await rig({ gpu: false, npm: "ok" });
  working.registry.answer = "error";
  const b = await working.run();
  assert.equal(b.status, 0, b.out);
  assert.match(b.out, /registry failed \(http:.*: HTTP 500 Internal Server Error\); installing them with npm ci instead/);
  assert.deepEqual(npmCalls(working), ["skip ci --omit=dev --ignore-scripts --no-audit --no-fund in dist"]);
  assert.match(b.out, /installed in [\d.]+ s \(with npm ci\)/);
  // npm ci unpacked every system's binaries; only this one's are kept.
  assert.deepEqual(readdirSync(napiDir(working)), [process.platform]);
  assert.deepEqual(readdirSync(path.join(napiDir(working), process.platform)), [process.arch]);
});

test("behind a proxy npm installs (it knows proxies); without npm on PATH that is one clear error", async () => {
  const proxied = await rig({ gpu: false, npm: "ok" });
  const a = await proxied.run([], { HTTPS_PROXY: "http://127.0.0.1:9" });
  assert.equal(a.status, 0, a.out);
  assert.match(a.out, /prunebench: a proxy is set \(HTTPS_PROXY\), so npm installs the runtime packages/);
  assert.equal(proxied.registry.requests.length, 0);
  assert.equal(npmCalls(proxied).length, 1);
  const missing = await rig({ gpu: false, npm: "missing" });
  const b = await missing.run([], { HTTPS_PROXY: "http://127.0.0.1:9" });
  assert.equal(b.status, 1, b.out);
  assert.match(b.out, /::error::prunebench: npm is not on this runner's PATH.*--install-only/);
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
