import picomatch from "picomatch";
import type { GitHub } from "./octokit.ts";

export interface ChangedConfigsOptions {
  octokit: GitHub;
  owner: string;
  repo: string;
  pull: number;
  /** Globs of config files, relative to the repository root. */
  patterns: string[];
}

export interface ChangedFile {
  path: string;
  status: string;
}

/**
 * Config files a PR added or changed, from the files API (paginated: 30 a page by default,
 * 3,000 files at most, as GitHub documents). Removed configs have nothing left to run.
 */
export async function findChangedConfigs(options: ChangedConfigsOptions): Promise<ChangedFile[]> {
  const { octokit, owner, repo, pull, patterns } = options;
  const isConfig = picomatch(patterns, { dot: true });
  const files = await octokit.paginate(octokit.rest.pulls.listFiles, { owner, repo, pull_number: pull, per_page: 100 });
  return files
    .filter((f) => f.status !== "removed" && isConfig(f.filename))
    .map((f) => ({ path: f.filename, status: f.status }))
    .sort((a, b) => a.path.localeCompare(b.path));
}
