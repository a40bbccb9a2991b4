import type { GitHub } from "../octokit.ts";
import { checkFileName, keyFolder, type ResultsStore, type StoreKey, type StoredFile } from "./types.ts";

export interface BranchStoreOptions {
  octokit: GitHub;
  owner: string;
  repo: string;
  branch: string;
  /** Attempts when another job moved the branch between our read and our ref update. */
  attempts?: number;
  /** Waits between attempts; passed in so tests need not sleep. */
  sleep?: (ms: number) => Promise<void>;
  log?: (message: string) => void;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Results in a data branch, written through the git data API: no checkout, no push
 * credentials beyond the token, and one commit per save. Matrix shards saving at once race
 * on the ref; the loser gets 422 ("not a fast forward") or 409 and rebuilds its commit on
 * the new tip.
 */
export class BranchStore implements ResultsStore {
  readonly description: string;
  private readonly attempts: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: BranchStoreOptions) {
    this.description = `branch ${options.branch}`;
    this.attempts = options.attempts ?? 6;
    this.sleep = options.sleep ?? defaultSleep;
  }

  async save(key: StoreKey, files: StoredFile[], message?: string): Promise<void> {
    const { octokit, owner, repo, branch } = this.options;
    const folder = keyFolder(key);
    const tree = files.map((f) => ({ path: `${folder}/${checkFileName(f.name)}`, mode: "100644" as const, type: "blob" as const, content: f.content }));
    for (let attempt = 1; ; attempt++) {
      const parent = await this.tip();
      const baseTree = parent ? (await octokit.rest.git.getCommit({ owner, repo, commit_sha: parent })).data.tree.sha : undefined;
      const { data: newTree } = await octokit.rest.git.createTree({ owner, repo, tree, ...(baseTree ? { base_tree: baseTree } : {}) });
      const { data: commit } = await octokit.rest.git.createCommit({
        owner,
        repo,
        message: message ?? `prunebench results for ${key.commit} on ${key.fingerprint}`,
        tree: newTree.sha,
        parents: parent ? [parent] : [],
      });
      try {
        if (parent) await octokit.rest.git.updateRef({ owner, repo, ref: `heads/${branch}`, sha: commit.sha, force: false });
        else await octokit.rest.git.createRef({ owner, repo, ref: `refs/heads/${branch}`, sha: commit.sha });
        return;
      } catch (error) {
        const status = (error as { status?: number }).status;
        if ((status !== 409 && status !== 422) || attempt >= this.attempts) throw error;
        const wait = Math.round(200 * 2 ** (attempt - 1) * (0.5 + Math.random()));
        this.options.log?.(`results store: branch ${branch} moved while saving (HTTP ${status}); trying again in ${wait} ms`);
        await this.sleep(wait);
      }
    }
  }

  async load(key: StoreKey): Promise<StoredFile[]> {
    const entries = await this.list(keyFolder(key));
    const { octokit, owner, repo } = this.options;
    const files: StoredFile[] = [];
    for (const entry of entries.filter((e) => e.type === "file" && e.name.endsWith(".json"))) {
      const { data } = await octokit.rest.git.getBlob({ owner, repo, file_sha: entry.sha });
      files.push({ name: entry.name, content: Buffer.from(data.content, data.encoding === "base64" ? "base64" : "utf8").toString("utf8") });
    }
    return files;
  }

  async fingerprints(commit: string): Promise<string[]> {
    const folder = keyFolder({ commit, fingerprint: "x" }).replace(/\/x$/, "");
    return (await this.list(folder)).filter((e) => e.type === "dir").map((e) => e.name).sort();
  }

  private async tip(): Promise<string | undefined> {
    const { octokit, owner, repo, branch } = this.options;
    try {
      return (await octokit.rest.git.getRef({ owner, repo, ref: `heads/${branch}` })).data.object.sha;
    } catch (error) {
      if ((error as { status?: number }).status === 404) return undefined;
      throw error;
    }
  }

  private async list(folder: string): Promise<Array<{ name: string; type: string; sha: string }>> {
    const { octokit, owner, repo, branch } = this.options;
    try {
      const { data } = await octokit.rest.repos.getContent({ owner, repo, path: folder, ref: branch });
      return Array.isArray(data) ? data.map((e) => ({ name: e.name, type: e.type, sha: e.sha })).sort((a, b) => a.name.localeCompare(b.name)) : [];
    } catch (error) {
      if ((error as { status?: number }).status === 404) return [];
      throw error;
    }
  }
}
