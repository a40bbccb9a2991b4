/**
 * The Action on a cold runner: a fresh copy of the action's files (what `uses:` checks out:
 * the tracked files, dist/ included, no node_modules), an empty HOME and an empty npm cache
 * (so no .npmrc: the public registry), and `node action/bootstrap.js` in `mode: run` on a
 * one-method config of the bundled demo decoder. Measures the install (seconds, how it went:
 * from the registry or with npm ci, MB on disk, npm cache left behind) and the time from the
 * step's start to the first config starting (the pipeline's "== <config>" line), and when the
 * Action's own first line came (it starts while the install runs). Cold runs
 * PRUNEBENCH_BENCH_RUNS times (default 3), each from nothing; then once with the install in
 * place (a warm self-hosted runner). PRUNEBENCH_BENCH_ACTION=<checkout> measures another
 * checkout of the action (an older revision, for before/after numbers under the same load).
 *
 * Goals (issue 19): at most 150 MB on disk for a CPU runner; the first config starting
 * within 15 s of the job step on a cold runner. Needs the npm registry: without it, the
 * install fails and the benchmark says so.
 */
import { spawn, execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { diskBytes } from "../action/bootstrap.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

interface Timing {
  exitCode: number;
  /** As bootstrap.js reports it, and how: "N packages from <registry>" or "with npm ci". */
  installSeconds: number | null;
  installedBy: string | null;
  /** Seconds from the step's start: the install done, the Action's first line, the first config starting. */
  installedAt: number | null;
  actionStartedAt: number | null;
  firstConfigSeconds: number | null;
  totalSeconds: number;
  tail: string;
}

/** What a checkout of the action holds: tracked and untracked-but-not-ignored files. */
function copyAction(from: string, to: string): void {
  const files = execFileSync("git", ["-C", from, "ls-files", "--cached", "--others", "--exclude-standard", "-z"]).toString().split("\0").filter(Boolean);
  for (const f of files) {
    mkdirSync(path.dirname(path.join(to, f)), { recursive: true });
    try {
      cpSync(path.join(from, f), path.join(to, f));
    } catch {
      // a file deleted in the working tree but still tracked
    }
  }
}

async function step(actionDir: string, workspace: string, home: string, cache: string): Promise<Timing> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
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
  const t: Omit<Timing, "exitCode" | "totalSeconds" | "tail"> = { installSeconds: null, installedBy: null, installedAt: null, actionStartedAt: null, firstConfigSeconds: null };
  const now = () => Number(((performance.now() - started) / 1000).toFixed(2));
  const watch = (chunk: Buffer) => {
    out += chunk.toString();
    const m = /installed in ([\d.]+) s(?: \(([^)]*)\))?|already installed/.exec(out);
    if (m && t.installedAt === null) Object.assign(t, { installedAt: now(), installSeconds: m[1] ? Number(m[1]) : null, installedBy: m[2] ?? (m[1] ? null : "already installed") });
    // The Action's first line: the configs it chose (run-shard.ts), before it needs onnxruntime-node.
    if (t.actionStartedAt === null && /^running \d+ config/m.test(out)) t.actionStartedAt = now();
    if (t.firstConfigSeconds === null && /^== /m.test(out)) {
      t.firstConfigSeconds = now();
      child.kill("SIGTERM");
    }
  };
  child.stdout.on("data", watch);
  child.stderr.on("data", watch);
  const exitCode = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
  return { exitCode, ...t, totalSeconds: now(), tail: out.slice(-600) };
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "pb-cold-"));
try {
  const actionDir = path.join(tmp, "action");
  const workspace = path.join(tmp, "workspace");
  const cache = path.join(tmp, "npm-cache");
  const home = path.join(tmp, "home");
  copyAction(path.resolve(process.env.PRUNEBENCH_BENCH_ACTION ?? ROOT), actionDir);
  mkdirSync(path.join(workspace, "models"), { recursive: true });
  cpSync(path.join(ROOT, "demo/models"), path.join(workspace, "models/demo"), { recursive: true });
  cpSync(path.join(ROOT, "demo/tokenizer.json"), path.join(workspace, "models/tokenizer.json"));
  const config = readFileSync(path.join(ROOT, "demo/decoder.yml"), "utf8")
    .replace("models/decoder.onnx", "demo/decoder.onnx")
    .replace(/methods: \[.*\]/, "methods: [magnitude]")
    .replace(/sparsity: \[.*\]/, "sparsity: [0.5]");
  writeFileSync(path.join(workspace, "models/decoder.yml"), config);
  writeFileSync(path.join(tmp, "event.json"), JSON.stringify({ after: "d".repeat(40) }));
  const modules = path.join(actionDir, "dist", "node_modules");
  const shown = (t: Timing) => ({ ...t, tail: t.firstConfigSeconds === null ? t.tail : undefined });
  const mb = (bytes: number) => Number((bytes / 1e6).toFixed(1));
  const runs = Number(process.env.PRUNEBENCH_BENCH_RUNS ?? 3);
  const cold = [];
  let actionBytes = 0;
  let modulesBytes = 0;
  let cacheBytes = 0;
  for (let i = 0; i < runs; i++) {
    for (const dir of [modules, cache, home]) rmSync(dir, { recursive: true, force: true });
    mkdirSync(home);
    actionBytes = diskBytes(actionDir);
    const loadBefore = Number(os.loadavg()[0].toFixed(2));
    cold.push({ ...shown(await step(actionDir, workspace, home, cache)), loadAverage1m: loadBefore });
    modulesBytes = existsSync(modules) ? diskBytes(modules) : 0;
    cacheBytes = existsSync(cache) ? diskBytes(cache) : 0;
  }
  const warm = await step(actionDir, workspace, home, cache);
  const firsts = cold.map((c) => c.firstConfigSeconds).filter((s): s is number => s !== null).sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({
      cold,
      coldFirstConfigMedianSeconds: firsts.length ? firsts[Math.floor(firsts.length / 2)] : null,
      warm: shown(warm),
      checkoutMB: mb(actionBytes),
      runtimeModulesMB: mb(modulesBytes),
      onDiskMB: mb(actionBytes + modulesBytes),
      npmCacheMB: mb(cacheBytes),
      loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
    })}\n`,
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
