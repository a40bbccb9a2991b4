import { markdownTable } from "markdown-table";
import { escapeHtml } from "./escape.ts";

/** Cells must already be escaped; the delimiter row is not padded, to keep comments short. */
export function table(header: string[], rows: string[][], align?: ("l" | "r" | "c")[]): string {
  return markdownTable([header, ...rows], { align, alignDelimiters: false });
}

/** A folded block. The summary is plain text (escaped here); the body is Markdown. */
export function details(summary: string, body: string, open = false): string {
  return `<details${open ? " open" : ""}><summary>${escapeHtml(summary)}</summary>\n\n${body.trim()}\n\n</details>`;
}

export function heading(level: number, text: string): string {
  return `${"#".repeat(level)} ${text}`;
}
