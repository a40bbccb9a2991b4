/**
 * The hidden first line of every report. The GitHub layer finds its earlier comment by it
 * and updates that comment in place instead of adding one per push.
 */
export const REPORT_MARKER_PREFIX = "<!-- prunebench-report:";

/** Ids keep to [A-Za-z0-9._-] so that no id can close the comment early. */
export function reportMarker(id = "default"): string {
  const safe = id.replace(/[^\w.-]/g, "-").slice(0, 100) || "default";
  return `${REPORT_MARKER_PREFIX}${safe} -->`;
}

/** The id of the report marker a comment body starts with, or null. */
export function findReportMarker(body: string): string | null {
  const match = /^\s*<!-- prunebench-report:([\w.-]+) -->/.exec(body);
  return match ? match[1] : null;
}
