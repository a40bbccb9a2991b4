import type { Result, Runner } from "../results/schema.ts";
import { parseResult } from "../results/read.ts";
import { mergeByModel } from "../report/merge.ts";
import type { ResultsStore, StoreKey } from "../github/store/types.ts";
import type { CommitInfo, CommitOrder } from "./order.ts";

/** One commit's results on one runner. */
export interface HistoryPoint {
  commit: CommitInfo;
  results: Result[];
}

/** Everything measured on one runner fingerprint, oldest commit first: only like is compared with like. */
export interface RunnerHistory {
  fingerprint: string;
  /** As the newest result describes it. */
  runner: Runner;
  points: HistoryPoint[];
}

export interface History {
  /** The commits shown, oldest first (each has results on at least one runner). */
  commits: CommitInfo[];
  runners: RunnerHistory[];
  /** Where the order came from, for the page. */
  order: string;
  /** Stored commits not in the order given (a PR's head commits, another branch's): left out. */
  outside: number;
  /** Stored commits older than the `last` shown: left out. */
  older: number;
  /** Result files that could not be read: named, skipped. */
  warnings: string[];
}

export interface LoadHistoryOptions {
  store: ResultsStore;
  /** Without one, commits are ordered by when their results were made (createdAt). */
  order?: CommitOrder;
  /** At most this many commits, the newest. */
  last?: number;
}

/**
 * Reads the store into commit-ordered series per runner. Every file is validated as any other
 * input (results may come from an untrusted job); a bad one is named in the warnings and
 * skipped, never the whole dashboard.
 */
export async function loadHistory(options: LoadHistoryOptions): Promise<History> {
  const { store } = options;
  const last = options.last ?? 50;
  const byCommit = new Map<string, StoreKey[]>();
  for (const key of await store.keys()) byCommit.set(key.commit, [...(byCommit.get(key.commit) ?? []), key]);
  const warnings: string[] = [];
  const loaded = new Map<string, Map<string, Result[]>>();
  const load = async (commit: string) => {
    let perRunner = loaded.get(commit);
    if (perRunner) return perRunner;
    perRunner = new Map();
    for (const key of [...(byCommit.get(commit) ?? [])].sort((a, b) => a.fingerprint.localeCompare(b.fingerprint))) {
      const results: Result[] = [];
      for (const file of await store.load(key)) {
        try {
          results.push(parseResult(file.content, `${store.description}: ${key.commit}/${key.fingerprint}/${file.name}`));
        } catch (error) {
          warnings.push((error as Error).message);
        }
      }
      if (results.length) perRunner.set(key.fingerprint, mergeByModel(results));
    }
    loaded.set(commit, perRunner);
    return perRunner;
  };

  let sequence: CommitInfo[];
  let outside = 0;
  let order: string;
  if (options.order) {
    const stored = [...byCommit.keys()];
    const used = new Set<string>();
    sequence = [];
    for (const c of options.order.commits) {
      const sha = byCommit.has(c.sha) ? c.sha : uniquePrefix(stored, c.sha);
      if (sha && !used.has(sha)) {
        used.add(sha);
        sequence.push({ ...c, sha });
      }
    }
    outside = stored.length - used.size;
    order = options.order.source;
  } else {
    // No history given: when each commit's results were made, which is the push order on a branch that stores every push.
    const made = new Map<string, string>();
    for (const commit of byCommit.keys()) {
      const times = [...(await load(commit)).values()].flat().map((r) => r.createdAt).sort();
      if (times.length) made.set(commit, times[0]);
    }
    sequence = [...made].sort(([a, ta], [b, tb]) => ta.localeCompare(tb) || a.localeCompare(b)).map(([sha, date]) => ({ sha, date }));
    order = "the time each commit's results were made (no git history given)";
  }

  // Newest first, and no further than needed: a branch store costs a request per file.
  const shown: Array<{ commit: CommitInfo; perRunner: Map<string, Result[]> }> = [];
  let i = sequence.length - 1;
  for (; i >= 0 && shown.length < last; i--) {
    const perRunner = await load(sequence[i].sha);
    if (perRunner.size) shown.unshift({ commit: sequence[i], perRunner });
  }
  const older = i + 1;
  const runners = new Map<string, RunnerHistory>();
  for (const { commit, perRunner } of shown) {
    for (const [fingerprint, results] of perRunner) {
      let r = runners.get(fingerprint);
      if (!r) runners.set(fingerprint, (r = { fingerprint, runner: results[0].runner, points: [] }));
      r.runner = results[0].runner;
      r.points.push({ commit, results });
    }
  }
  return {
    commits: shown.map((s) => s.commit),
    runners: [...runners.values()].sort((a, b) => a.fingerprint.localeCompare(b.fingerprint)),
    order,
    outside,
    older,
    warnings,
  };
}

/** The one stored commit a short sha names; undefined when none or several do. */
function uniquePrefix(stored: string[], sha: string): string | undefined {
  if (sha.length >= 40) return undefined;
  const found = stored.filter((s) => s.toLowerCase().startsWith(sha.toLowerCase()));
  return found.length === 1 ? found[0] : undefined;
}
