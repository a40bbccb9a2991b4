import type { GitHub } from "../octokit.ts";
import { branchTip, commitFiles } from "../commit-files.ts";
import { checkFileName, keyFolder, parseKeyPath, type ResultsStore, type StoreKey, type StoredFile } from "./types.ts";

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

interface Entry {
  name: string;
  type: string;
  sha: string;
}

/**
 * Results in a data branch, written through the git data API (commitFiles): no checkout, no
 * push credentials beyond the token, and one commit per save. Matrix shards saving at once
 * race on the ref; the loser rebuilds its commit on the new tip.
 */
export class BranchStore implements ResultsStore {
  readonly description: string;
  /** The files of each key folder as keys() found them: load() then needs no listing of its own. */
  private listed?: Map<string, Entry[]>;

  constructor(private readonly options: BranchStoreOptions) {
    this.description = `branch ${options.branch}`;
  }

  async save(key: StoreKey, files: StoredFile[], message?: string): Promise<void> {
    const { octokit, owner, repo, branch } = this.options;
    const folder = keyFolder(key);
    this.listed = undefined;
    await commitFiles({
      octokit,
      owner,
      repo,
      branch,
      files: files.map((f) => ({ path: `${folder}/${checkFileName(f.name)}`, content: f.content })),
      message: message ?? `prunebench results for ${key.commit} on ${key.fingerprint}`,
      attempts: this.options.attempts,
      sleep: this.options.sleep,
      log: this.options.log && ((m) => this.options.log!(`results store: ${m}`)),
    });
  }

  async load(key: StoreKey): Promise<StoredFile[]> {
    const folder = keyFolder(key);
    const entries = this.listed?.get(folder) ?? (await this.list(folder));
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

  /**
   * One request for the whole branch (the recursive tree), however many commits it holds;
   * GitHub cuts that answer at 100,000 entries, which the log then says.
   */
  async keys(): Promise<StoreKey[]> {
    const { octokit, owner, repo, branch } = this.options;
    const tip = await branchTip(octokit, owner, repo, branch);
    if (!tip) return [];
    const treeSha = (await octokit.rest.git.getCommit({ owner, repo, commit_sha: tip })).data.tree.sha;
    const { data } = await octokit.rest.git.getTree({ owner, repo, tree_sha: treeSha, recursive: "true" });
    if (data.truncated) this.options.log?.(`results store: branch ${branch} holds more files than GitHub lists in one answer; the oldest commits may be missing`);
    const listed = new Map<string, Entry[]>();
    const keys: StoreKey[] = [];
    for (const item of data.tree) {
      if (item.type !== "blob" || !item.path || !item.sha) continue;
      const found = parseKeyPath(item.path);
      if (!found) continue;
      const folder = keyFolder(found.key);
      if (!listed.has(folder)) {
        listed.set(folder, []);
        keys.push(found.key);
      }
      listed.get(folder)!.push({ name: found.name, type: "file", sha: item.sha });
    }
    for (const entries of listed.values()) entries.sort((a, b) => a.name.localeCompare(b.name));
    this.listed = listed;
    return keys;
  }

  private async list(folder: string): Promise<Entry[]> {
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
