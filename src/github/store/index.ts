import type { GitHub } from "../octokit.ts";
import { BranchStore } from "./branch.ts";
import { DirStore } from "./dir.ts";
import type { ResultsStore } from "./types.ts";

export type { ResultsStore, StoreKey, StoredFile } from "./types.ts";
export { BranchStore } from "./branch.ts";
export { DirStore } from "./dir.ts";
export { GitRefStore } from "./git-ref.ts";

/** "branch:<name>", "dir:<path>" or "none", as the results-store input takes it. */
export type StoreSpec = { kind: "branch"; branch: string } | { kind: "dir"; dir: string } | { kind: "none" };

export function parseStoreSpec(text: string, field = "results-store"): StoreSpec {
  const value = text.trim();
  if (value === "" || value === "none") return { kind: "none" };
  const m = /^(branch|dir):(.+)$/.exec(value);
  if (!m) throw new Error(`${field}: expected 'branch:<name>', 'dir:<path>' or 'none', got '${value}'`);
  if (m[1] === "branch") {
    if (!/^[\w./-]+$/.test(m[2]) || m[2].includes("..")) throw new Error(`${field}: '${m[2]}' is not a usable branch name`);
    return { kind: "branch", branch: m[2] };
  }
  return { kind: "dir", dir: m[2] };
}

export function openStore(spec: StoreSpec, api: { octokit?: GitHub; owner: string; repo: string; log?: (m: string) => void }): ResultsStore | undefined {
  if (spec.kind === "none") return undefined;
  if (spec.kind === "dir") return new DirStore(spec.dir);
  if (!api.octokit) throw new Error("results-store: a branch store needs a github-token");
  return new BranchStore({ octokit: api.octokit, owner: api.owner, repo: api.repo, branch: spec.branch, log: api.log });
}
