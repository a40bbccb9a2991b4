// The Action's entry (runs.main in action.yml). Plain JavaScript, so it runs before any
// dependency is installed: it installs the action's own dependencies on the runner, picks
// the onnxruntime-node build (CUDA when nvidia-smi sees a GPU), then loads the TypeScript
// entry through tsx. Everything it decides is logged, and the runner fingerprint is written
// to RUNNER_TEMP for later steps.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
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
  return createHash("sha256").update(readFileSync(path.join(root, "package-lock.json"))).digest("hex").slice(0, 16);
}

/**
 * npm ci in the action's folder, once per lock file and variant: a self-hosted runner keeps
 * the folder between runs, so later runs skip the install (the "cache"). The CUDA build of
 * onnxruntime-node is fetched by its own install script (ONNXRUNTIME_NODE_INSTALL=cuda12).
 */
function install(variant) {
  const stamp = path.join(root, "node_modules", ".prunebench-install.json");
  const want = { lock: lockHash(), variant, node: process.versions.node.split(".")[0] };
  if (existsSync(stamp)) {
    try {
      const have = JSON.parse(readFileSync(stamp, "utf8"));
      if (have.lock === want.lock && have.variant === want.variant && have.node === want.node) {
        log(`prunebench: dependencies already installed (${variant}), skipping npm ci`);
        return true;
      }
    } catch {
      // a broken stamp means a fresh install
    }
  }
  log(`prunebench: installing dependencies (${variant}) with npm ci`);
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: variant === "cuda" ? "cuda12" : "skip" };
  if (process.env.RUNNER_TOOL_CACHE && !process.env.npm_config_cache) env.npm_config_cache = path.join(process.env.RUNNER_TOOL_CACHE, "prunebench-npm");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = spawnSync(npm, ["ci", "--omit=dev", "--no-audit", "--no-fund"], { cwd: root, env, stdio: ["ignore", "inherit", "inherit"] });
  if (result.status !== 0) return false;
  mkdirSync(path.dirname(stamp), { recursive: true });
  writeFileSync(stamp, JSON.stringify(want));
  return true;
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

async function main() {
  const gpu = detectGpu();
  let provider = gpu ? "cuda" : "cpu";
  if (process.env.PRUNEBENCH_SKIP_INSTALL !== "true") {
    if (!install(provider)) {
      if (provider === "cuda") {
        log("::warning::prunebench: installing the CUDA build of onnxruntime-node failed; falling back to CPU (results will carry provider cpu)");
        provider = "cpu";
        if (!install("cpu")) throw new Error("npm ci failed; see the log above");
      } else throw new Error("npm ci failed; see the log above");
    }
  }
  recordRunner(gpu, provider);
  process.env.PRUNEBENCH_PROVIDER = provider;
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(path.join(root, "action", "main.ts")).href);
}

// Run when started by the runner (node action/bootstrap.js); importing it only exposes detectGpu.
if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  main().catch((error) => {
    process.stdout.write(`::error::prunebench: ${error.message}\n`);
    process.exitCode = 1;
  });
}
