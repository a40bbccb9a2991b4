import type { Result } from "../results/schema.ts";
import type { GitHub } from "./octokit.ts";
import type { ResultsStore } from "./store/types.ts";
import { parseResult } from "../results/read.ts";

export interface MergeBaseOptions {
  octokit: GitHub;
  owner: string;
  repo: string;
  /** The PR's base commit (or branch) and head commit. */
  base: string;
  head: string;
}

/** The commit the PR branched from: what its results are to be compared with. */
export async function findMergeBase(options: MergeBaseOptions): Promise<string> {
  const { octokit, owner, repo, base, head } = options;
  const { data } = await octokit.rest.repos.compareCommitsWithBasehead({ owner, repo, basehead: `${base}...${head}`, per_page: 1 });
  return data.merge_base_commit.sha;
}

export interface Baseline {
  commit: string;
  results?: Result[];
  /** Why there are no results, for the report. */
  note?: string;
  warnings: string[];
}

/** Results stored for `commit` on the same runner fingerprint, validated like any other input. */
export async function loadBaseline(options: { store: ResultsStore; commit: string; fingerprint: string }): Promise<Baseline> {
  const { store, commit, fingerprint } = options;
  const files = await store.load({ commit, fingerprint });
  const warnings: string[] = [];
  const results: Result[] = [];
  for (const file of files) {
    try {
      results.push(parseResult(file.content, `${store.description}: ${commit}/${fingerprint}/${file.name}`));
    } catch (error) {
      warnings.push((error as Error).message);
    }
  }
  if (results.length > 0) return { commit, results, warnings };
  const others = (await store.fingerprints(commit)).filter((f) => f !== fingerprint);
  const note = others.length
    ? `the merge base ${commit.slice(0, 12)} has results only from other runners (${others.join(", ")}), which are not comparable with this one (${fingerprint})`
    : `no stored results for the merge base ${commit.slice(0, 12)} on runner ${fingerprint} in ${store.description}`;
  return { commit, note, warnings };
}
