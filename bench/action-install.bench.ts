/**
 * The Action on a cold runner: a fresh copy of the action's files (what `uses:` checks out:
 * the tracked files, dist/ included, no node_modules), an empty npm cache pointing at the
 * registry, and `node action/bootstrap.js` in `mode: run` on a one-method config of the
 * bundled demo decoder. Measures the install (seconds, MB on disk) and the time from the
 * step's start to the first config starting (the pipeline's "== <config>" line).
 * Then the same again with the install in place (a warm self-hosted runner).
 *
 * Goals (issue 19): at most 150 MB on disk for a CPU runner; the first config starting
 * within 15 s of the job step on a cold runner. Needs the npm registry: without it, the
 * install fails and the benchmark says so.
 */
import { spawn, execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { diskBytes } from "../action/bootstrap.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

interface Timing {
  exitCode: number;
  installSeconds: number | null;
  firstConfigSeconds: number | null;
  totalSeconds: number;
  tail: string;
}

/** What a checkout of the action holds: tracked and untracked-but-not-ignored files. */
function copyAction(to: string): void {
  const files = execFileSync("git", ["-C", ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z"]).toString().split("\0").filter(Boolean);
  for (const f of files) {
    mkdirSync(path.dirname(path.join(to, f)), { recursive: true });
    try {
      cpSync(path.join(ROOT, f), path.join(to, f));
    } catch {
      // a file deleted in the working tree but still tracked
    }
  }
}

async function step(actionDir: string, workspace: string, cache: string): Promise<Timing> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GITHUB_ACTIONS: "true",
    GITHUB_EVENT_NAME: "push",
    GITHUB_EVENT_PATH: path.join(workspace, "..", "event.json"),
    GITHUB_REPOSITORY: "octo/models",
    GITHUB_SHA: "d".repeat(40),
    GITHUB_REF: "refs/heads/main",
    GITHUB_WORKSPACE: workspace,
    GITHUB_RUN_ID: "1",
    GITHUB_JOB: "bench",
    RUNNER_TEMP: path.join(workspace, "..", "runner-temp"),
    npm_config_cache: cache,
    PRUNEBENCH_FORCE_CPU: "true",
    INPUT_MODE: "run",
    INPUT_CONFIGS: "models/*.yml",
    "INPUT_RESULTS-DIR": "results",
    "INPUT_RESULTS-STORE": "none",
  };
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(actionDir, "action/bootstrap.js")], { cwd: workspace, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let installSeconds: number | null = null;
  let firstConfigSeconds: number | null = null;
  const watch = (chunk: Buffer) => {
    out += chunk.toString();
    const m = /installed in ([\d.]+) s/.exec(out);
    if (m && installSeconds === null) installSeconds = Number(m[1]);
    if (firstConfigSeconds === null && /^== /m.test(out)) {
      firstConfigSeconds = (performance.now() - started) / 1000;
      child.kill("SIGTERM");
    }
  };
  child.stdout.on("data", watch);
  child.stderr.on("data", watch);
  const exitCode = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
  return { exitCode, installSeconds, firstConfigSeconds, totalSeconds: (performance.now() - started) / 1000, tail: out.slice(-600) };
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "pb-cold-"));
try {
  const actionDir = path.join(tmp, "action");
  const workspace = path.join(tmp, "workspace");
  const cache = path.join(tmp, "npm-cache");
  copyAction(actionDir);
  rmSync(path.join(actionDir, "dist", "node_modules"), { recursive: true, force: true });
  mkdirSync(path.join(workspace, "models"), { recursive: true });
  cpSync(path.join(ROOT, "demo/models"), path.join(workspace, "models/demo"), { recursive: true });
  cpSync(path.join(ROOT, "demo/tokenizer.json"), path.join(workspace, "models/tokenizer.json"));
  const config = readFileSync(path.join(ROOT, "demo/decoder.yml"), "utf8")
    .replace("models/decoder.onnx", "demo/decoder.onnx")
    .replace(/methods: \[.*\]/, "methods: [magnitude]")
    .replace(/sparsity: \[.*\]/, "sparsity: [0.5]");
  writeFileSync(path.join(workspace, "models/decoder.yml"), config);
  writeFileSync(path.join(tmp, "event.json"), JSON.stringify({ after: "d".repeat(40) }));
  const actionBytes = diskBytes(actionDir);
  const cold = await step(actionDir, workspace, cache);
  const modulesBytes = diskBytes(path.join(actionDir, "dist", "node_modules"));
  const warm = await step(actionDir, workspace, cache);
  process.stdout.write(
    `${JSON.stringify({
      cold: { ...cold, tail: cold.firstConfigSeconds === null ? cold.tail : undefined },
      warm: { ...warm, tail: warm.firstConfigSeconds === null ? warm.tail : undefined },
      checkoutMB: Number((actionBytes / 1e6).toFixed(1)),
      runtimeModulesMB: Number((modulesBytes / 1e6).toFixed(1)),
      onDiskMB: Number(((actionBytes + modulesBytes) / 1e6).toFixed(1)),
      npmCacheMB: Number((diskBytes(cache) / 1e6).toFixed(1)),
      loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
    })}\n`,
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
