import type { GitHub } from "./octokit.ts";
import { reportMarker } from "../report/index.ts";

/** GitHub refuses issue comments longer than this (422, "body is too long"). */
export const COMMENT_LIMIT = 65_536;

/**
 * The hidden marker that finds our comment again: the report stage's first line. The key
 * separates config sets, so two workflows using the action on one PR keep one comment each.
 */
export function commentMarker(key: string): string {
  return reportMarker(key);
}

export interface CommentTarget {
  octokit: GitHub;
  owner: string;
  repo: string;
  issue: number;
  marker: string;
  /** Logins whose comments are ours to edit; commentAuthors finds them when not given. */
  authors?: string[];
}

/** A body over COMMENT_LIMIT, caught before the request; GitHub's own refusal is a 422. */
export class CommentTooLongError extends Error {
  constructor(readonly length: number) {
    super(`comment is ${length} characters, over GitHub's limit of ${COMMENT_LIMIT}`);
    this.name = "CommentTooLongError";
  }
}

/** Whether the API refused a comment for its size (422 "body is too long (maximum is N characters)"). */
export function isBodyTooLong(error: unknown): boolean {
  if (error instanceof CommentTooLongError) return true;
  const e = error as { status?: number; response?: { data?: { errors?: Array<{ message?: string } | string> } } };
  return e?.status === 422 && (e.response?.data?.errors ?? []).some((x) => /too long/i.test(typeof x === "string" ? x : (x.message ?? "")));
}

/**
 * Who our comments are written by: the token's user (a personal or app token can read
 * /user) and github-actions[bot], which writes for the Actions GITHUB_TOKEN (that token gets
 * 403 from /user). Nobody else's comment is ever edited, whatever its body says.
 */
export async function commentAuthors(octokit: GitHub): Promise<string[]> {
  const authors = new Set(["github-actions[bot]"]);
  try {
    const { data } = await octokit.rest.users.getAuthenticated();
    authors.add(data.login);
  } catch {
    // an installation token (GITHUB_TOKEN) cannot read /user: its comments are github-actions[bot]'s
  }
  return [...authors];
}

export interface FoundComment {
  id: number;
  url: string;
  body: string;
}

/**
 * The first of our own comments (see commentAuthors) that starts with the marker, over all
 * pages of the PR's comments. Anyone can post a comment holding the marker: such a comment is
 * never taken over.
 */
export async function findComment(target: CommentTarget): Promise<FoundComment | undefined> {
  const { octokit, owner, repo, issue, marker } = target;
  const authors = target.authors ?? (await commentAuthors(octokit));
  for await (const page of octokit.paginate.iterator(octokit.rest.issues.listComments, { owner, repo, issue_number: issue, per_page: 100 })) {
    const hit = page.data.find((c) => c.user !== null && authors.includes(c.user.login) && (c.body ?? "").startsWith(marker));
    if (hit) return { id: hit.id, url: hit.html_url, body: hit.body ?? "" };
  }
  return undefined;
}

export interface UpsertResult {
  id: number;
  url: string;
  action: "created" | "updated";
}

/** Creates the comment once and edits it in place on every later run. */
export async function upsertComment(target: CommentTarget & { body: string }): Promise<UpsertResult> {
  const { octokit, owner, repo, issue, marker } = target;
  const body = withMarker(target.body, marker);
  if (body.length > COMMENT_LIMIT) throw new CommentTooLongError(body.length);
  const existing = await findComment(target);
  if (existing) {
    const { data } = await octokit.rest.issues.updateComment({ owner, repo, comment_id: existing.id, body });
    return { id: data.id, url: data.html_url, action: "updated" };
  }
  const { data } = await octokit.rest.issues.createComment({ owner, repo, issue_number: issue, body });
  return { id: data.id, url: data.html_url, action: "created" };
}

function withMarker(body: string, marker: string): string {
  return body.startsWith(marker) ? body : `${marker}\n${body}`;
}
