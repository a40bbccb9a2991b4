// The Action's entry (runs.main in action.yml). Plain JavaScript, so it runs before anything
// is installed. The Action's code is bundled in dist/ (npm run build:dist); what cannot be
// bundled (onnxruntime-node's native binaries, the Moby-Dick corpus's data files) is listed in
// dist/package.json and installed here into dist/node_modules, once per lock file, variant and
// Node major: the CUDA build of onnxruntime-node when nvidia-smi sees a GPU, else the CPU build
// it ships, keeping only this platform's binaries. Then it loads dist/action.js.
//
//   node action/bootstrap.js                 install when needed, then run the Action
//   node action/bootstrap.js --install-only  install and exit (runner images that pre-install)
//
// PRUNEBENCH_FROM_SOURCE=true runs action/main.ts through tsx instead of dist/ (development and
// the tests, which must not run a dist/ that lags the sources).
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
const log = (message) => process.stdout.write(`${message}\n`);

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

function lockHash() {
  return createHash("sha256").update(readFileSync(path.join(dist, "package-lock.json"))).digest("hex").slice(0, 16);
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
 * onnxruntime-node ships binaries for darwin, linux and win32 on x64 and arm64 (220 of its
 * 288 MB are for other systems); a runner needs its own.
 */
export function keepPlatformBinaries(modules, platform = process.platform, arch = process.arch) {
  const bin = path.join(modules, "onnxruntime-node", "bin");
  if (!existsSync(bin)) return;
  for (const napi of readdirSync(bin)) {
    for (const system of readdirSync(path.join(bin, napi))) {
      const systemDir = path.join(bin, napi, system);
      if (system !== platform) {
        rmSync(systemDir, { recursive: true, force: true });
        continue;
      }
      for (const cpu of readdirSync(systemDir)) if (cpu !== arch) rmSync(path.join(systemDir, cpu), { recursive: true, force: true });
    }
  }
}

/** npm from PATH; a clear error when the runner has none (npm's own output is inherited). */
function npm(args, env) {
  const command = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = spawnSync(command, args, { cwd: dist, env, stdio: ["ignore", "inherit", "inherit"], shell: process.platform === "win32" });
  if (result.error?.code === "ENOENT") {
    throw new Error(
      "npm is not on this runner's PATH, and it is needed once to install onnxruntime-node: install Node.js 20.19 or newer with npm " +
        "(actions/setup-node does), or pre-install in the runner image with `node action/bootstrap.js --install-only`",
    );
  }
  if (result.error) throw new Error(`could not start npm: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`npm ${args[0]} in ${dist} failed (${result.signal ? `killed by ${result.signal}` : `exit ${result.status}`}); npm's output is above`);
}

/**
 * npm ci in dist/, once per lock file, wanted provider and Node major: a self-hosted runner
 * keeps the action's folder between runs, so later runs skip the install (the "cache").
 * Install scripts are not left to npm (recent npm versions skip them unless approved): the CUDA
 * build is fetched by running onnxruntime-node's own install script with
 * ONNXRUNTIME_NODE_INSTALL=cuda12. Returns the provider installed: cpu when the CUDA build failed.
 */
function install(wanted) {
  const modules = path.join(dist, "node_modules");
  const stamp = path.join(modules, ".prunebench-install.json");
  const want = { lock: lockHash(), wanted, node: process.versions.node.split(".")[0], platform: `${process.platform}-${process.arch}` };
  if (existsSync(stamp)) {
    try {
      const have = JSON.parse(readFileSync(stamp, "utf8"));
      if (Object.keys(want).every((k) => have[k] === want[k])) {
        log(`prunebench: runtime packages already installed (${have.provider}), skipping npm ci`);
        return have.provider;
      }
    } catch {
      // a broken stamp means a fresh install
    }
  }
  const started = Date.now();
  log(`prunebench: installing the runtime packages of dist/package.json (${wanted}) with npm ci`);
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: "skip" };
  if (process.env.RUNNER_TOOL_CACHE && !process.env.npm_config_cache) env.npm_config_cache = path.join(process.env.RUNNER_TOOL_CACHE, "prunebench-npm");
  npm(["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"], env);
  let provider = wanted;
  if (wanted === "cuda") {
    const script = spawnSync(process.execPath, ["script/install"], { cwd: path.join(modules, "onnxruntime-node"), env: { ...env, ONNXRUNTIME_NODE_INSTALL: "cuda12" }, stdio: ["ignore", "inherit", "inherit"] });
    if (script.status !== 0) {
      const why = script.error ? script.error.message : `exit ${script.status}; its output is above`;
      log(`::warning::prunebench: installing the CUDA build of onnxruntime-node failed (${why}); falling back to CPU (results will carry provider cpu)`);
      provider = "cpu";
    }
  }
  keepPlatformBinaries(modules);
  writeFileSync(stamp, JSON.stringify({ ...want, provider }));
  log(`prunebench: installed in ${((Date.now() - started) / 1000).toFixed(1)} s, ${(diskBytes(modules) / 1e6).toFixed(0)} MB in dist/node_modules`);
  return provider;
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
  const installOnly = argv.includes("--install-only");
  const gpu = detectGpu();
  let provider = gpu ? "cuda" : "cpu";
  if (process.env.PRUNEBENCH_SKIP_INSTALL !== "true") provider = install(provider);
  if (installOnly) {
    log(`prunebench: runtime packages installed (${provider}); exiting (--install-only)`);
    return;
  }
  recordRunner(gpu, provider);
  process.env.PRUNEBENCH_PROVIDER = provider;
  if (/^(1|true)$/.test(process.env.PRUNEBENCH_FROM_SOURCE ?? "")) {
    const { register } = await import("tsx/esm/api");
    register();
    await import(pathToFileURL(path.join(root, "action", "main.ts")).href);
    return;
  }
  const entry = path.join(dist, "action.js");
  if (!existsSync(entry)) throw new Error(`${entry} is missing: this copy of the action was not built (npm run build:dist)`);
  await import(pathToFileURL(entry).href);
}

// Run when started by the runner (node action/bootstrap.js); importing it only exposes the helpers.
if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  main(process.argv.slice(2)).catch((error) => {
    process.stdout.write(`::error::prunebench: ${error.message}\n`);
    process.exitCode = 1;
  });
}
