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
}

export interface FoundComment {
  id: number;
  url: string;
  body: string;
}

/** The first comment carrying the marker, over all pages of the PR's comments. */
export async function findComment(target: CommentTarget): Promise<FoundComment | undefined> {
  const { octokit, owner, repo, issue, marker } = target;
  for await (const page of octokit.paginate.iterator(octokit.rest.issues.listComments, { owner, repo, issue_number: issue, per_page: 100 })) {
    const hit = page.data.find((c) => c.body?.includes(marker));
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
  if (body.length > COMMENT_LIMIT) {
    throw new Error(`comment is ${body.length} characters, over GitHub's limit of ${COMMENT_LIMIT}; the report should have been shortened`);
  }
  const existing = await findComment(target);
  if (existing) {
    const { data } = await octokit.rest.issues.updateComment({ owner, repo, comment_id: existing.id, body });
    return { id: data.id, url: data.html_url, action: "updated" };
  }
  const { data } = await octokit.rest.issues.createComment({ owner, repo, issue_number: issue, body });
  return { id: data.id, url: data.html_url, action: "created" };
}

function withMarker(body: string, marker: string): string {
  return body.includes(marker) ? body : `${marker}\n${body}`;
}
