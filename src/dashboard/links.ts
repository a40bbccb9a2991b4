import { UserError } from "../errors.ts";

/** The repository the commits belong to, for links to them. */
export interface RepoRef {
  /** https://github.com, or a GitHub Enterprise server. */
  serverUrl: string;
  owner: string;
  repo: string;
}

const NAME = /^[\w.-]+$/;
const SHA = /^[0-9a-f]{7,64}$/i;

/** "owner/name" (on github.com) or a repository's URL ("https://ghe.example.com/owner/name"). */
export function parseRepo(text: string, field = "--repo"): RepoRef {
  const value = text.trim().replace(/\.git$/, "").replace(/\/+$/, "");
  const short = /^([^/]+)\/([^/]+)$/.exec(value);
  if (short && NAME.test(short[1]) && NAME.test(short[2]) && !value.includes(":")) return { serverUrl: "https://github.com", owner: short[1], repo: short[2] };
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  const parts = url?.pathname.split("/").filter(Boolean) ?? [];
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:") || parts.length !== 2 || !parts.every((p) => NAME.test(p)) || url.search || url.hash) {
    throw new UserError(`${field}: expected owner/name or a repository URL such as https://github.com/owner/name, got '${text.slice(0, 200)}'`, { field });
  }
  return { serverUrl: url.origin, owner: parts[0], repo: parts[1] };
}

/** The commit's page; undefined for a store key that is not a sha (nothing to link to). */
export function commitUrl(repo: RepoRef | undefined, sha: string): string | undefined {
  if (!repo || !SHA.test(sha)) return undefined;
  return `${repo.serverUrl}/${repo.owner}/${repo.repo}/commit/${sha}`;
}
