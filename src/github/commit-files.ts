import type { GitHub } from "./octokit.ts";

export interface CommitFilesOptions {
  octokit: GitHub;
  owner: string;
  repo: string;
  branch: string;
  /** Paths in the branch; files not named stay as they are (the new tree is built on the tip's). */
  files: Array<{ path: string; content: string }>;
  message: string;
  /** No commit when the files already hold this content (a page republished unchanged). */
  skipUnchanged?: boolean;
  /** Attempts when another job moved the branch between our read and our ref update. */
  attempts?: number;
  /** Waits between attempts; passed in so tests need not sleep. */
  sleep?: (ms: number) => Promise<void>;
  log?: (message: string) => void;
}

export interface CommittedFiles {
  /** The branch's tip afterwards. */
  sha: string;
  /** False when skipUnchanged found nothing to change. */
  created: boolean;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One commit on a branch through the git data API: no checkout, no push credentials beyond
 * the token (contents: write). The branch is created when missing. Jobs writing at once race
 * on the ref; the loser gets 422 ("not a fast forward") or 409 and rebuilds its commit on the
 * new tip, so nothing another job wrote is lost.
 */
export async function commitFiles(options: CommitFilesOptions): Promise<CommittedFiles> {
  const { octokit, owner, repo, branch } = options;
  const attempts = options.attempts ?? 6;
  const sleep = options.sleep ?? defaultSleep;
  const tree = options.files.map((f) => ({ path: f.path, mode: "100644" as const, type: "blob" as const, content: f.content }));
  for (let attempt = 1; ; attempt++) {
    const parent = await branchTip(octokit, owner, repo, branch);
    const baseTree = parent ? (await octokit.rest.git.getCommit({ owner, repo, commit_sha: parent })).data.tree.sha : undefined;
    const { data: newTree } = await octokit.rest.git.createTree({ owner, repo, tree, ...(baseTree ? { base_tree: baseTree } : {}) });
    if (parent && options.skipUnchanged && newTree.sha === baseTree) return { sha: parent, created: false };
    const { data: commit } = await octokit.rest.git.createCommit({ owner, repo, message: options.message, tree: newTree.sha, parents: parent ? [parent] : [] });
    try {
      if (parent) await octokit.rest.git.updateRef({ owner, repo, ref: `heads/${branch}`, sha: commit.sha, force: false });
      else await octokit.rest.git.createRef({ owner, repo, ref: `refs/heads/${branch}`, sha: commit.sha });
      return { sha: commit.sha, created: true };
    } catch (error) {
      const status = (error as { status?: number }).status;
      if ((status !== 409 && status !== 422) || attempt >= attempts) throw error;
      const wait = Math.round(200 * 2 ** (attempt - 1) * (0.5 + Math.random()));
      options.log?.(`branch ${branch} moved while committing (HTTP ${status}); trying again in ${wait} ms`);
      await sleep(wait);
    }
  }
}

/** The branch's tip, or undefined when it does not exist yet. */
export async function branchTip(octokit: GitHub, owner: string, repo: string, branch: string): Promise<string | undefined> {
  try {
    return (await octokit.rest.git.getRef({ owner, repo, ref: `heads/${branch}` })).data.object.sha;
  } catch (error) {
    if ((error as { status?: number }).status === 404) return undefined;
    throw error;
  }
}
