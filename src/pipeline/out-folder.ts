/**
 * A run's output folder, shared by every `prunebench run` that names it: what a run writes
 * there (so that none of it replaces a model), the lock that keeps two runs from writing at
 * once, and the results the report covers (every result file there, not only this run's).
 */
import { existsSync, linkSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { RunInterrupted, UserError } from "../errors.ts";
import { reportFilePaths } from "../report/files.ts";
import { ResultFileError, readResultFile } from "../results/read.ts";
import type { Result } from "../results/schema.ts";
import { temporaryPath } from "../util/atomic.ts";
import type { OutputPath } from "../util/overwrite.ts";
import { processAlive } from "../util/processes.ts";
import type { StopSignal } from "./context.ts";

export const LOCK_FILE = ".prunebench.lock";

/** Where a config's result file lives in a run's output folder. */
export function resultFile(outDir: string, name: string): string {
  return path.join(outDir, "results", `${name}.json`);
}

/**
 * Every path a run writes under `outDir` for these configs: their result files, journals and
 * artifacts, the derived data, the lock, and the report's files. A model may live in the
 * output folder, just not at one of these.
 */
export function runOutputs(outDir: string, names: string[], report: boolean): OutputPath[] {
  const at = (p: string, folder = false): OutputPath => ({ path: p, flag: "--out", folder });
  const outputs = [at(path.join(outDir, LOCK_FILE)), at(path.join(outDir, "data"), true)];
  for (const name of names) outputs.push(at(resultFile(outDir, name)), at(path.join(outDir, name, "stages"), true), at(path.join(outDir, name, "artifacts"), true));
  if (report) {
    const files = reportFilePaths(outDir);
    outputs.push(at(files.markdown), at(files.full), at(files.verdict), at(files.charts, true));
  }
  return outputs;
}

interface LockHolder {
  pid: number;
  host: string;
  since: string;
}

export interface OutFolderLock {
  release(): void;
}

/**
 * Takes the output folder's lock, `<out>/.prunebench.lock` (created whole or not at all: a
 * link of a finished temporary file). While another live run holds it, this one says so once,
 * naming its pid, and waits; Ctrl-C stops the wait (RunInterrupted). A lock whose pid is no
 * longer alive on this host (killed with -9, a lost runner) is taken over. A lock of another
 * host cannot be checked and is waited on; its line says which file to remove if it is stale.
 */
export async function lockOutFolder(outDir: string, options: { stop: StopSignal; log: (line: string) => void; pollMs?: number }): Promise<OutFolderLock> {
  const lock = path.join(outDir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  let waitingFor: number | undefined;
  for (;;) {
    if (tryCreate(lock, me)) break;
    const holder = readHolder(lock);
    if (!holder) continue; // released (or half-removed) between the two steps: try again
    if (holder.host === me.host && !processAlive(holder.pid)) {
      // Re-read just before removing, so a lock another waiter has just taken over is kept.
      if (sameHolder(readHolder(lock), holder)) rmSync(lock, { force: true });
      options.log(`--out ${outDir}: took over the lock of prunebench pid ${holder.pid}, which is no longer running (${lock})`);
      continue;
    }
    if (waitingFor !== holder.pid) {
      waitingFor = holder.pid;
      const where = holder.host === me.host ? "" : ` on ${holder.host} (remove ${lock} if that run is gone)`;
      options.log(`--out ${outDir}: in use by prunebench pid ${holder.pid}${where} since ${holder.since}; waiting for it to finish (Ctrl-C to stop)`);
    }
    if (options.stop.requested) throw new RunInterrupted(`the wait for ${lock}`);
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 500));
    if (options.stop.requested) throw new RunInterrupted(`the wait for ${lock}`);
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      if (sameHolder(readHolder(lock), me)) rmSync(lock, { force: true });
    },
  };
}

function tryCreate(lock: string, me: LockHolder): boolean {
  const tmp = temporaryPath(lock);
  writeFileSync(tmp, `${JSON.stringify(me)}\n`, { flag: "wx" });
  try {
    linkSync(tmp, lock);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function readHolder(lock: string): LockHolder | undefined {
  try {
    const holder = JSON.parse(readFileSync(lock, "utf8")) as Partial<LockHolder>;
    if (typeof holder.pid === "number" && typeof holder.host === "string") return { pid: holder.pid, host: holder.host, since: String(holder.since ?? "?") };
    // Not a lock this version writes: named, never removed on a guess.
    throw new UserError(`${lock}: not a prunebench lock (expected {"pid", "host", "since"}); remove it if no run is using this folder`, { file: lock });
  } catch (error) {
    if (error instanceof UserError) throw error;
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UserError(`${lock}: cannot be read as a prunebench lock (${(error as Error).message}); remove it if no run is using this folder`, { file: lock });
  }
}

function sameHolder(a: LockHolder | undefined, b: LockHolder): boolean {
  return a !== undefined && a.pid === b.pid && a.host === b.host && a.since === b.since;
}

/**
 * Every result in `<out>/results/`: this run's first, in their order, then the others the
 * folder holds (earlier runs of other configs), by file name. A file that is not a valid
 * result is left out with a line saying why, not fatal: the run's own results are fine.
 */
export function folderResults(outDir: string, own: Result[], log: (line: string) => void): Result[] {
  const dir = path.join(outDir, "results");
  const ownFiles = new Set(own.map((r) => path.resolve(resultFile(outDir, r.model))));
  const others = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".json") && !f.startsWith(".")).sort() : [];
  const results = [...own];
  for (const name of others) {
    const file = path.join(dir, name);
    if (ownFiles.has(path.resolve(file))) continue;
    try {
      results.push(readResultFile(file));
    } catch (error) {
      if (!(error instanceof ResultFileError)) throw error;
      log(`warning: ${error.message}; left out of the report`);
    }
  }
  return results;
}
