import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import picomatch from "picomatch";
import { writeJsonAtomic } from "../src/util/atomic.ts";
import { findChangedConfigs } from "../src/github/changed-configs.ts";
import type { ActionContext } from "../src/github/context.ts";
import type { GitHub } from "../src/github/octokit.ts";
import { MANIFEST_NAME, readResultFiles, shardFileName, type Manifest } from "../src/github/results-files.ts";
import { resultCommit } from "../src/github/context.ts";
import type { ActionInputs } from "./inputs.ts";
import type { Logger } from "./log.ts";
import { runtimeInstalled, type RunConfigs } from "./pipeline.ts";

export interface RunShardOptions {
  inputs: ActionInputs;
  context: ActionContext;
  octokit?: GitHub;
  runConfigs: RunConfigs;
  log: Logger;
  /** RUNNER_TEMP, and PRUNEBENCH_PROVIDER as bootstrap.js set it. */
  env: NodeJS.ProcessEnv;
  /** Where the pipeline keeps its working files (journal for resumption); RUNNER_TEMP by default. */
  workDir?: string;
}

export interface ShardOutput {
  configs: string[];
  files: string[];
  dir: string;
}

/**
 * Runs this shard's configs and leaves one result file per model, named and stamped with
 * the shard, plus a manifest the trusted report job reads. The pipeline's own files stay in
 * a working folder outside the results, so an artifact holds results only.
 */
export async function runShard(options: RunShardOptions): Promise<ShardOutput> {
  const { inputs, context, log } = options;
  const configs = await selectConfigs(options);
  const dir = path.resolve(context.workspace, inputs.resultsDir, inputs.shard);
  mkdirSync(dir, { recursive: true });
  const manifest: Manifest = {
    manifest: 1,
    shard: inputs.shard,
    commit: resultCommit(context),
    pull: context.pull?.number ?? inputs.pullRequest,
    baseSha: context.pull?.baseSha,
    configs,
    eventName: context.eventName,
  };
  writeJsonAtomic(path.join(dir, MANIFEST_NAME), manifest);
  if (configs.length === 0) {
    log.info("no model configs to run for this change");
    return { configs, files: [], dir };
  }
  log.info(`running ${configs.length} config(s) in shard ${inputs.shard}: ${configs.join(", ")}`);
  // Everything above runs while bootstrap.js installs onnxruntime-node; from here on it is needed.
  await runtimeInstalled();
  const { env } = options;
  const cudaInstalled = env.PRUNEBENCH_PROVIDER === "cuda";
  // providers: auto leaves the configs' own providers where bootstrap.js installed the CUDA
  // build, and keeps to the CPU where it did not (no GPU, or the CUDA install fell back).
  const providers = inputs.providers !== "auto" ? inputs.providers : cudaInstalled ? undefined : (["cpu"] as Array<"cpu" | "cuda">);
  const temp = env.RUNNER_TEMP ?? os.tmpdir();
  await recordRunner({ provider: providers?.includes("cuda") || (!providers && cudaInstalled) ? "cuda" : "cpu", file: path.join(temp, "prunebench-runner.json"), log });
  const workDir = options.workDir ?? path.join(temp, "prunebench", inputs.shard);
  await options.runConfigs({
    configs: configs.map((c) => path.resolve(context.workspace, c)),
    outDir: workDir,
    providers,
    shard: inputs.shard,
    commit: manifest.commit,
    report: false,
  });
  const files: string[] = [];
  for (const { result } of readResultFiles(workDir)) {
    const stamped = { ...result, shard: inputs.shard, commit: result.commit ?? manifest.commit };
    const file = path.join(dir, shardFileName(stamped));
    writeJsonAtomic(file, stamped);
    files.push(file);
  }
  log.info(`shard ${inputs.shard}: ${files.length} result file(s) in ${dir}`);
  return { configs, files, dir };
}

/** The runner's fingerprint as result files will carry it, in the log and in RUNNER_TEMP. */
async function recordRunner({ provider, file, log }: { provider: "cpu" | "cuda"; file: string; log: Logger }): Promise<void> {
  try {
    const { runnerFingerprint } = await import("../src/eval/runner.ts");
    const runner = runnerFingerprint({ provider });
    log.info(`runner fingerprint ${runner.fingerprint}: ${runner.cpu} x${runner.cores}, ${runner.gpu ?? "no GPU"}, onnxruntime ${runner.ort}, ${provider}`);
    writeJsonAtomic(file, runner);
  } catch (error) {
    log.warning(`could not describe the runner: ${(error as Error).message}`);
  }
}

async function selectConfigs(options: RunShardOptions): Promise<string[]> {
  const { inputs, context, octokit, log } = options;
  const all = globFiles(context.workspace, inputs.configs);
  const pull = context.pull?.number ?? inputs.pullRequest;
  if (inputs.allConfigs || pull === undefined) return all;
  if (!octokit) {
    log.warning("no github-token: cannot ask which files the PR changed, so every config runs");
    return all;
  }
  try {
    const changed = await findChangedConfigs({ octokit, owner: context.owner, repo: context.repo, pull, patterns: inputs.configs });
    const present = new Set(all);
    return changed.map((c) => c.path).filter((p) => present.has(p));
  } catch (error) {
    log.warning(`could not list the files of PR #${pull} (${(error as Error).message}); running every config instead`);
    return all;
  }
}

/** Files under root matching the globs, relative and sorted; dependency folders skipped. */
export function globFiles(root: string, patterns: string[]): string[] {
  const match = picomatch(patterns, { dot: false });
  const out: string[] = [];
  const walk = (rel: string) => {
    const abs = path.join(root, rel);
    if (!existsSync(abs)) return;
    for (const name of readdirSync(abs).sort()) {
      if (name === "node_modules" || name.startsWith(".")) continue;
      const r = rel ? `${rel}/${name}` : name;
      if (statSync(path.join(root, r)).isDirectory()) walk(r);
      else if (match(r)) out.push(r);
    }
  };
  walk("");
  return out;
}
