import { compareResults } from "../report/compare.ts";
import type { Comparison, Thresholds } from "../report/types.ts";
import type { Result } from "../results/schema.ts";
import type { CommitInfo } from "./order.ts";
import type { History } from "./history.ts";

/** A regression or improvement called between a commit and the one before it on the same runner. */
export interface Change {
  commit: CommitInfo;
  /** The commit compared with: the previous one on this runner that has the model. */
  previous: CommitInfo;
  fingerprint: string;
  comparison: Comparison & { state: "regression" | "improvement" };
}

/**
 * Each commit's results against the previous commit's on the same runner fingerprint, model by
 * model, with the report's own comparison (compareResults: Mann-Whitney U and a bootstrap
 * interval for latency, tolerances for perplexity, the reach of budget searches) and its
 * thresholds. Only what the report would call a regression or an improvement is kept.
 */
export function findChanges(history: History, thresholds: Thresholds): Change[] {
  const changes: Change[] = [];
  for (const runner of history.runners) {
    const previous = new Map<string, { commit: CommitInfo; result: Result }>();
    for (const point of runner.points) {
      for (const result of point.results) {
        const before = previous.get(result.model);
        previous.set(result.model, { commit: point.commit, result });
        if (!before) continue;
        const verdict = compareResults([result], [before.result], thresholds, { calledOnly: true });
        for (const c of verdict.comparisons) {
          if (c.state === "regression" || c.state === "improvement") {
            changes.push({ commit: point.commit, previous: before.commit, fingerprint: runner.fingerprint, comparison: c as Change["comparison"] });
          }
        }
      }
    }
  }
  return changes;
}
