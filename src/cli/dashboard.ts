import { existsSync, statSync } from "node:fs";
import { execFileSync } from "node:child_process";
import path from "node:path";
import type { Command } from "commander";
import { UsageError } from "./errors.ts";
import { UserError } from "../errors.ts";
import { fileInputs, refuseOverwrites } from "../util/overwrite.ts";
import { addThresholdFlags, thresholdsFromFlags, type ThresholdFlags } from "./report.ts";
import { DirStore, GitRefStore, type ResultsStore } from "../github/store/index.ts";
import { resolveThresholds } from "../report/options.ts";
import { buildDashboard, gitHistory, parseRepo, readCommitsFile, writeDashboard, type CommitOrder, type RepoRef } from "../dashboard/index.ts";

interface DashboardCliOptions extends ThresholdFlags {
  out: string;
  repo?: string;
  commits?: string;
  git?: string;
  rev?: string;
  last: string;
  title?: string;
}

/** "dir:<path>", a folder (the dir: layout, or a checkout of the data branch), or "branch:<name>" of the --git clone. */
function openCliStore(spec: string, gitDir: string | undefined): ResultsStore {
  const branch = /^branch:(.+)$/.exec(spec);
  if (branch) {
    const store = new GitRefStore(gitDir ?? ".", branch[1]);
    store.check();
    return store;
  }
  const dir = spec.replace(/^dir:/, "");
  if (!existsSync(dir)) throw new UserError(`${dir}: no such results store (a folder holding results/<commit>/<runner>/<model>.json)`, { file: dir });
  if (!statSync(dir).isDirectory()) throw new UserError(`${dir}: is a file; the results store is a folder holding results/<commit>/<runner>/<model>.json`, { file: dir });
  return new DirStore(dir);
}

/** The repository of the clone's origin remote, when it looks like a GitHub one (https or ssh). */
function originRepo(gitDir: string): RepoRef | undefined {
  let url: string;
  try {
    url = execFileSync("git", ["-C", gitDir, "remote", "get-url", "origin"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
  const ssh = /^git@([\w.-]+):([\w.-]+)\/([\w.-]+?)(?:\.git)?$/.exec(url);
  try {
    return parseRepo(ssh ? `https://${ssh[1]}/${ssh[2]}/${ssh[3]}` : url.replace(/\/\/[^@/]*@/, "//"), "origin");
  } catch {
    return undefined;
  }
}

export async function dashboardCommand(storeSpec: string, opts: DashboardCliOptions): Promise<void> {
  const last = Number(opts.last);
  if (!Number.isInteger(last) || last < 1) throw new UsageError(`--last: expected a positive whole number of commits, got ${JSON.stringify(opts.last)}`);
  if (opts.commits && opts.git && !/^branch:/.test(storeSpec)) throw new UsageError("--commits and --git both give the commit order: pass one");
  if (existsSync(opts.out) && !statSync(opts.out).isDirectory()) throw new UsageError(`--out ${opts.out}: is a file; give the folder to write index.html into`);
  refuseOverwrites(fileInputs([[opts.commits, "the commit order (--commits)"]]), [{ path: path.join(opts.out, "index.html"), flag: "--out (index.html)" }]);
  const thresholds = resolveThresholds(thresholdsFromFlags(opts));
  const repo = opts.repo ? parseRepo(opts.repo) : opts.git ? originRepo(opts.git) : undefined;
  const store = openCliStore(storeSpec, opts.git);
  let order: CommitOrder | undefined;
  if (opts.commits) order = readCommitsFile(opts.commits);
  else if (opts.git || opts.rev) {
    const history = gitHistory(opts.git ?? ".", opts.rev ?? "HEAD");
    if (history.shallow) console.error(`dashboard: ${opts.git ?? "."} is a shallow clone: commits older than its history are ordered out (git fetch --unshallow)`);
    order = history;
  }
  const dashboard = await buildDashboard({ store, order, last, repo, thresholds, title: opts.title });
  const file = writeDashboard(opts.out, dashboard);
  const { history, changes } = dashboard;
  const regressions = changes.filter((c) => c.comparison.state === "regression").length;
  for (const w of history.warnings) console.error(`warning: ${w}`);
  console.error(
    `dashboard: wrote ${file}: ${history.commits.length} commits, ${history.runners.length} runners, ${dashboard.charts} charts, ${regressions} regressions, ${changes.length - regressions} improvements` +
      (history.outside ? `; ${history.outside} stored commits not in the order given, left out` : "") +
      (history.older ? `; ${history.older} older commits beyond --last ${last}` : "") +
      (repo ? "" : "; no --repo, so commits are not linked"),
  );
}

export function register(program: Command): void {
  const command = program
    .command("dashboard <store>")
    .description("Static site (one index.html, charts inline, no server) of perplexity and latency over commits, per runner, with regressions marked")
    .requiredOption("--out <dir>", "folder to write index.html into")
    .option("--repo <owner/name>", "repository the commits belong to, for links (owner/name or its URL; default: --git's origin)")
    .option("--commits <file>", "commit order: one sha per line, newest first (git log --format='%H %s' > file)")
    .option("--git <dir>", "commit order from this clone's first-parent history; branch:<name> stores are read from it")
    .option("--rev <rev>", "with --git: the branch whose history orders the commits (default HEAD)")
    .option("--last <n>", "show at most the newest n commits", "50")
    .option("--title <text>", "heading of the page (default: prunebench dashboard)");
  addThresholdFlags(command)
    .addHelpText(
      "after",
      "\n<store>: a folder holding results/<commit>/<runner>/<model>.json (dir:<path>, or a checkout of the data branch),\n" +
        "or branch:<name> read from the --git clone (default .), e.g. branch:origin/prunebench-results after git fetch.\n" +
        "Without --commits or --git the commits are ordered by when their results were made.",
    )
    .action((store: string, opts: DashboardCliOptions) => dashboardCommand(store, opts));
}
