import { createHash } from "node:crypto";

/**
 * The hidden first line of every report. The GitHub layer finds its earlier comment by it
 * and updates that comment in place instead of adding one per push.
 */
export const REPORT_MARKER_PREFIX = "<!-- prunebench-report:";

/**
 * The marker of one report id (the Action's comment-key). A readable slug keeps to
 * [A-Za-z0-9._-], so that no id can close the comment early, and a hash of the whole id tells
 * apart ids the slug would merge ("tiny/only" and "tiny-only", "models/*.yml" and
 * "models/?.yml", or two long ids with one start).
 */
export function reportMarker(id = "default"): string {
  const slug = id.replace(/[^\w.-]/g, "-").slice(0, 40) || "default";
  const hash = createHash("sha256").update(id).digest("hex").slice(0, 12);
  return `${REPORT_MARKER_PREFIX}${slug}.${hash} -->`;
}

/** The id of the report marker a comment body starts with, or null. */
export function findReportMarker(body: string): string | null {
  const match = /^\s*<!-- prunebench-report:([\w.-]+) -->/.exec(body);
  return match ? match[1] : null;
}
