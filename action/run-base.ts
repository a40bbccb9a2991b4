import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Result } from "../src/results/schema.ts";
import type { ActionContext } from "../src/github/context.ts";
import { readResultFiles } from "../src/github/results-files.ts";
import type { ActionInputs } from "./inputs.ts";
import type { Logger } from "./log.ts";
import type { RunConfigs } from "./pipeline.ts";
import { globFiles } from "./run-shard.ts";

/**
 * baseline: merge-base-or-run. Checks the merge base out in a worktree beside the
 * workspace and runs the same configs there, on this runner, so the comparison is like for
 * like. Needs the commit in the clone (actions/checkout with fetch-depth: 0, or a fetch).
 */
export async function runBase(options: { context: ActionContext; inputs: ActionInputs; commit: string; runConfigs: RunConfigs; log: Logger }): Promise<Result[]> {
  const { context, inputs, commit, log } = options;
  const git = (...args: string[]) => execFileSync("git", ["-C", context.workspace, ...args], { stdio: ["ignore", "pipe", "pipe"] }).toString();
  try {
    git("cat-file", "-e", `${commit}^{commit}`);
  } catch {
    log.info(`fetching the merge base ${commit.slice(0, 12)}`);
    git("fetch", "--no-tags", "--depth=1", "origin", commit);
  }
  const tmp = mkdtempSync(path.join(process.env.RUNNER_TEMP ?? os.tmpdir(), "prunebench-base-"));
  const tree = path.join(tmp, "tree");
  git("worktree", "add", "--detach", tree, commit);
  try {
    const configs = globFiles(tree, inputs.configs);
    log.info(`running ${configs.length} config(s) at the merge base ${commit.slice(0, 12)}`);
    const out = path.join(tmp, "out");
    await options.runConfigs({ configs: configs.map((c) => path.join(tree, c)), outDir: out, commit, report: false, providers: inputs.providers === "auto" ? undefined : inputs.providers });
    return readResultFiles(out).map((f) => ({ ...f.result, commit }));
  } finally {
    try {
      git("worktree", "remove", "--force", tree);
    } catch {
      // a stale worktree entry is pruned by the next `git worktree prune`
    }
    rmSync(tmp, { recursive: true, force: true });
  }
}
