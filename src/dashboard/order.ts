import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { UserError } from "../errors.ts";

/** A commit as the dashboard shows it; subject and date where the history gives them. */
export interface CommitInfo {
  sha: string;
  /** The first line of the message: untrusted text, escaped wherever it is shown. */
  subject?: string;
  /** ISO 8601, the committer date. */
  date?: string;
}

/**
 * The order of the dashboard's commits, oldest first. The store has none of its own (a folder
 * per commit), so it comes from git history or a list; `source` says which, on the page.
 */
export interface CommitOrder {
  commits: CommitInfo[];
  source: string;
}

const SHA = /^[0-9a-f]{7,64}$/i;

/**
 * A list of commits, newest first as `git log --format='%H %s'` or `git rev-list` print them:
 * a sha, optionally a space and the subject, per line; blank lines and lines starting with
 * '#' are skipped.
 */
export function readCommitsFile(file: string): CommitOrder {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new UserError(`${file}: cannot read the commit list (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { file });
  }
  const commits: CommitInfo[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith("#")) return;
    const [sha, ...rest] = trimmed.split(/\s+/);
    if (!SHA.test(sha)) throw new UserError(`${file}: line ${i + 1}: expected a commit sha (7 to 64 hex digits), got '${sha.slice(0, 80)}'`, { file, field: `line ${i + 1}` });
    commits.push({ sha: sha.toLowerCase(), ...(rest.length ? { subject: rest.join(" ") } : {}) });
  });
  if (!commits.length) throw new UserError(`${file}: the commit list is empty`, { file });
  return { commits: commits.reverse(), source: `the commit list ${file}` };
}

export interface GitHistory extends CommitOrder {
  /** A shallow clone (actions/checkout's default fetch-depth: 1) knows only its last commits. */
  shallow: boolean;
}

/**
 * The first-parent history of `rev` in a git checkout, oldest first: the commits of the branch
 * itself, not those of the branches merged into it (a PR's head commits have results in the
 * store too, and are not points of the branch's history).
 */
export function gitHistory(dir: string, rev = "HEAD", max = 10_000): GitHistory {
  if (rev.startsWith("-")) throw new UserError(`--rev: '${rev}' is not a revision`, { field: "rev" });
  const git = (...args: string[]) => execFileSync("git", ["-C", dir, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 });
  let out: string;
  try {
    out = git("log", "--first-parent", `-n${max}`, "--format=%H%x1f%cI%x1f%s", rev, "--");
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? "").trim().split("\n")[0];
    throw new UserError(`${dir}: cannot read the git history of '${rev}' (${stderr || (error as Error).message})`, { file: dir });
  }
  const commits = out
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [sha, date, subject] = line.split("\x1f");
      return { sha, date, subject };
    })
    .reverse();
  const shallow = git("rev-parse", "--is-shallow-repository").trim() === "true";
  return { commits, shallow, source: `the git history of ${rev} (first parent)${shallow ? ", a shallow clone" : ""}` };
}
