// The Action's entry (runs.main in action.yml). Plain JavaScript, so it runs before anything
// is installed. The Action's code is bundled in dist/ (npm run build:dist); what cannot be
// bundled (onnxruntime-node's native binaries, the Moby-Dick corpus's data files) is pinned in
// dist/package-lock.json and installed here into dist/node_modules, once per lock file, variant
// and Node major: the tarballs straight from the npm registry (action/registry-install.js,
// loaded as dist/registry-install.js, bundled with node-tar, since nothing is installed yet;
// keeping only this platform's binaries), or with npm ci where that cannot be done (a proxy, a
// failed download); then the CUDA build of onnxruntime-node when nvidia-smi sees a GPU.
// The install runs while dist/action.js starts: the Action waits for it only where it first
// loads onnxruntime-node (action/pipeline.ts, runtimeInstalled).
//
//   node action/bootstrap.js                 install when needed, then run the Action
//   node action/bootstrap.js --install-only  install and exit (runner images that pre-install)
//
// PRUNEBENCH_FROM_SOURCE=true runs action/main.ts through tsx instead of dist/ (development and
// the tests, which must not run a dist/ that lags the sources).
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { directInstallBlocker, installFromRegistry, IntegrityError, npmConfig, registryFor } from "../dist/registry-install.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
const log = (message) => process.stdout.write(`${message}\n`);
const STAMP = ".prunebench-install.json";
/**
 * onnxruntime-node's dependencies that only its install script needs (to fetch the CUDA build):
 * a CPU runner skips them and their 13 dependencies (15 requests that cost seconds on a busy runner).
 */
const CUDA_INSTALL_ONLY = new Set(["adm-zip", "global-agent"]);
/** Where the pending install is left for the Action (action/pipeline.ts reads the same key). */
const RUNTIME_INSTALL = Symbol.for("prunebench.runtimeInstall");

/** The GPU as nvidia-smi reports it, or null (no driver, no GPU, or the tool is missing). */
export function detectGpu() {
  if (process.env.PRUNEBENCH_FORCE_CPU === "true") return null;
  try {
    const out = execFileSync("nvidia-smi", ["--query-gpu=name,driver_version", "--format=csv,noheader"], { stdio: ["ignore", "pipe", "ignore"], timeout: 15000 })
      .toString()
      .trim()
      .split("\n")[0];
    if (!out) return null;
    const [name, driver] = out.split(",").map((s) => s.trim());
    return { name, driver };
  } catch {
    return null;
  }
}

/** Bytes on disk under a folder (what the install costs the runner). */
export function diskBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/**
 * onnxruntime-node ships binaries for darwin, linux and win32 on x64 and arm64, in
 * bin/napi-v<N>/<platform>/<arch>/ (255 of its 301 MB are for other systems); a runner needs its
 * own. True for a path inside the package that belongs to another platform or architecture.
 */
export function isOtherPlatformBinary(rel, platform = process.platform, arch = process.arch) {
  const m = /^bin\/napi-v\d+\/([^/]+)(?:\/([^/]+))?/.exec(rel);
  return Boolean(m) && (m[1] !== platform || (m[2] !== undefined && m[2] !== arch));
}

/** Deletes what npm ci unpacked for other systems (the registry install never writes it). */
export function keepPlatformBinaries(modules, platform = process.platform, arch = process.arch) {
  const bin = path.join(modules, "onnxruntime-node", "bin");
  if (!existsSync(bin)) return;
  for (const napi of readdirSync(bin)) {
    for (const system of readdirSync(path.join(bin, napi))) {
      const systemDir = path.join(bin, napi, system);
      if (isOtherPlatformBinary(`bin/${napi}/${system}`, platform, arch)) {
        rmSync(systemDir, { recursive: true, force: true });
        continue;
      }
      for (const cpu of readdirSync(systemDir)) if (isOtherPlatformBinary(`bin/${napi}/${system}/${cpu}`, platform, arch)) rmSync(path.join(systemDir, cpu), { recursive: true, force: true });
    }
  }
}

/** A child process, its output inherited; resolves with its exit (or start error). */
function runChild(command, args, options) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", (error) => resolve({ error }));
    child.on("close", (status, signal) => resolve({ status, signal }));
  });
}

/** npm from PATH; a clear error when the runner has none (npm's own output is inherited). */
async function npm(args, env, cwd) {
  const command = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = await runChild(command, args, { cwd, env, shell: process.platform === "win32" });
  if (result.error?.code === "ENOENT") {
    throw new Error(
      "npm is not on this runner's PATH, and it is needed to install onnxruntime-node here: install Node.js 20.19 or newer with npm " +
        "(actions/setup-node does), or pre-install in the runner image with `node action/bootstrap.js --install-only`",
    );
  }
  if (result.error) throw new Error(`could not start npm: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`npm ${args[0]} failed (${result.signal ? `killed by ${result.signal}` : `exit ${result.status}`}); npm's output is above`);
}

/**
 * The lock's packages into staging/node_modules: straight from the registry when npm's settings
 * allow it (the fast path: one streamed download per package, nothing cached), else, or when
 * that fails on the network, with npm ci. A tarball that does not match the lock is refused.
 * Install scripts are not left to npm (recent npm versions skip them unless approved).
 */
async function installPackages(staging, lockText, wanted) {
  const modules = path.join(staging, "node_modules");
  const config = npmConfig();
  const blocker = directInstallBlocker(config);
  if (!blocker) {
    try {
      const count = await installFromRegistry({
        lock: JSON.parse(lockText),
        modules,
        config,
        skip: wanted === "cuda" ? new Set() : CUDA_INSTALL_ONLY,
        keep: (name, rel) => name !== "onnxruntime-node" || !isOtherPlatformBinary(rel),
      });
      return `${count} package${count === 1 ? "" : "s"} from ${registryFor(config, "onnxruntime-node")}`;
    } catch (error) {
      if (error instanceof IntegrityError) throw error;
      log(`::warning::prunebench: fetching the runtime packages from the registry failed (${error.message}); installing them with npm ci instead`);
      rmSync(modules, { recursive: true, force: true });
    }
  } else log(`prunebench: ${blocker}, so npm installs the runtime packages`);
  copyFileSync(path.join(dist, "package.json"), path.join(staging, "package.json"));
  writeFileSync(path.join(staging, "package-lock.json"), lockText);
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: "skip" };
  if (process.env.RUNNER_TOOL_CACHE && !process.env.npm_config_cache) env.npm_config_cache = path.join(process.env.RUNNER_TOOL_CACHE, "prunebench-npm");
  await npm(["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"], env, staging);
  keepPlatformBinaries(modules);
  return "with npm ci";
}

/** onnxruntime-node's own install script fetches its CUDA build; cpu when that fails. */
async function installCuda(modules) {
  const script = await runChild(process.execPath, ["script/install"], { cwd: path.join(modules, "onnxruntime-node"), env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: "cuda12" } });
  if (script.status === 0) return "cuda";
  const why = script.error ? script.error.message : `exit ${script.status}; its output is above`;
  log(`::warning::prunebench: installing the CUDA build of onnxruntime-node failed (${why}); falling back to CPU (results will carry provider cpu)`);
  return "cpu";
}

/**
 * dist/node_modules, once per lock file, wanted provider, Node major and platform: a self-hosted
 * runner keeps the action's folder between runs, so later runs skip the install (the "cache").
 * Everything is built in a staging folder beside it and renamed into place only when complete
 * (integrity checked, CUDA step done, stamp written), so an interrupted or refused install
 * leaves the previous dist/node_modules, or none, never half of one. Returns the provider
 * installed: cpu when the CUDA build failed.
 */
export async function installRuntime(wanted) {
  const target = path.join(dist, "node_modules");
  const lockText = readFileSync(path.join(dist, "package-lock.json"), "utf8");
  const want = { lock: createHash("sha256").update(lockText).digest("hex").slice(0, 16), wanted, node: process.versions.node.split(".")[0], platform: `${process.platform}-${process.arch}` };
  try {
    const have = JSON.parse(readFileSync(path.join(target, STAMP), "utf8"));
    if (Object.keys(want).every((k) => have[k] === want[k])) {
      log(`prunebench: runtime packages already installed (${have.provider}), skipping the install`);
      return have.provider;
    }
  } catch {
    // no stamp, or a broken one: a fresh install
  }
  const started = Date.now();
  // What an interrupted earlier run left (the process was killed): never part of an install.
  for (const name of readdirSync(dist)) if (name.startsWith(".install-")) rmSync(path.join(dist, name), { recursive: true, force: true });
  const staging = mkdtempSync(path.join(dist, ".install-"));
  try {
    log(`prunebench: installing the runtime packages of dist/package-lock.json (${wanted})`);
    const how = await installPackages(staging, lockText, wanted);
    const modules = path.join(staging, "node_modules");
    const provider = wanted === "cuda" ? await installCuda(modules) : wanted;
    writeFileSync(path.join(modules, STAMP), JSON.stringify({ ...want, provider }));
    const old = `${staging}-old`;
    if (existsSync(target)) renameSync(target, old);
    renameSync(modules, target);
    rmSync(old, { recursive: true, force: true });
    log(`prunebench: installed in ${((Date.now() - started) / 1000).toFixed(1)} s (${how}), ${(diskBytes(target) / 1e6).toFixed(0)} MB in dist/node_modules`);
    return provider;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function recordRunner(gpu, provider) {
  const runner = {
    os: `${os.platform()} ${os.release()}`,
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    gpu: gpu?.name ?? null,
    driver: gpu?.driver ?? null,
    node: process.versions.node,
    provider,
  };
  const file = path.join(process.env.RUNNER_TEMP ?? os.tmpdir(), "prunebench-runner.json");
  try {
    writeFileSync(file, `${JSON.stringify(runner, null, 2)}\n`);
  } catch {
    // informational only
  }
  log(`prunebench: runner ${runner.cpu} x${runner.cores}, ${gpu ? `GPU ${gpu.name} (driver ${gpu.driver})` : "no GPU"}, provider ${provider}`);
  return runner;
}

async function main(argv) {
  const gpu = detectGpu();
  const wanted = gpu ? "cuda" : "cpu";
  const install = process.env.PRUNEBENCH_SKIP_INSTALL === "true" ? Promise.resolve(wanted) : installRuntime(wanted);
  if (argv.includes("--install-only")) {
    log(`prunebench: runtime packages installed (${await install}); exiting (--install-only)`);
    return;
  }
  let failed = false;
  const ready = install.then(
    (provider) => {
      recordRunner(gpu, provider);
      process.env.PRUNEBENCH_PROVIDER = provider;
      return provider;
    },
    (error) => {
      failed = true;
      log(`::error::prunebench: ${error.message}`);
      throw new Error("the runtime packages (onnxruntime-node) could not be installed; the error is above");
    },
  );
  // Awaited by the Action where it first needs onnxruntime-node, and below; not an unhandled rejection meanwhile.
  ready.catch(() => {});
  globalThis[RUNTIME_INSTALL] = ready;
  if (/^(1|true)$/.test(process.env.PRUNEBENCH_FROM_SOURCE ?? "")) {
    const { register } = await import("tsx/esm/api");
    register();
    await import(pathToFileURL(path.join(root, "action", "main.ts")).href);
  } else {
    const entry = path.join(dist, "action.js");
    if (!existsSync(entry)) throw new Error(`${entry} is missing: this copy of the action was not built (npm run build:dist)`);
    await import(pathToFileURL(entry).href);
  }
  // A run that never loaded onnxruntime-node (mode: report) still waits for the install, and fails with it.
  await ready.catch(() => {});
  if (failed && !process.exitCode) process.exitCode = 1;
}

// Run when started by the runner (node action/bootstrap.js); importing it only exposes the helpers.
if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  main(process.argv.slice(2)).catch((error) => {
    process.stdout.write(`::error::prunebench: ${error.message}\n`);
    process.exitCode = 1;
  });
}
