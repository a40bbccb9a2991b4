/**
 * Everything that comes from a PR or a model file (model names, run ids, method options,
 * error text, paths) goes through these before it reaches Markdown. The threats: raw HTML
 * (<img onerror>), @mentions and #refs that notify people, links and images
 * ([x](javascript:...), autolinked URLs), and characters that break a table row
 * (pipes, newlines) or open code spans (backticks).
 */

const MAX_TEXT = 200;

// GitHub turns @name into a mention after rendering, on text nodes, so neither a backslash
// nor an entity stops it: an invisible word joiner after the @ does (the same for the
// autolinks of bare URLs, e-mail addresses and www. names, which also work on rendered
// text). A word joiner, unlike a zero-width space, does not let "wanda@0.5" wrap.
const JOINER = "\u2060";

/** Control characters and newlines become spaces; the text is cut to `max` characters. */
function flatten(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const flat = String(text).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function defuseAutolinks(text: string): string {
  return text
    .replace(/@/g, `@${JOINER}`)
    .replace(/:\/\//g, `:${JOINER}//`)
    .replace(/\bwww\./gi, (m) => `${m.slice(0, 3)}${JOINER}.`);
}

/**
 * Text for Markdown inline content, table cells included: one line, no HTML, no Markdown
 * syntax, no mentions or autolinks.
 */
export function escapeText(text: string, options: { max?: number } = {}): string {
  const flat = flatten(text, options.max ?? MAX_TEXT);
  const escaped = flat
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    // Punctuation with a meaning inside a line (user text never starts a line, so list and
    // heading markers are harmless); $ starts GitHub's math.
    .replace(/[\\`*_[\]()#!|~$]/g, (c) => `\\${c}`);
  return defuseAutolinks(escaped);
}

/** Text inside raw HTML (a <summary>): entities only, since Markdown does not run there. */
export function escapeHtml(text: string, options: { max?: number } = {}): string {
  const flat = flatten(text, options.max ?? MAX_TEXT)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
  return defuseAutolinks(flat);
}

/**
 * A label inside a chart (Chart.js config, Mermaid source, Vega spec): letters, digits and
 * a few harmless signs. quickchart-js turns "__BEGINFUNCTION__...__ENDFUNCTION__" strings
 * into code, and Mermaid labels end at quotes, so anything else is replaced.
 */
export function chartLabel(text: string, options: { max?: number } = {}): string {
  const flat = flatten(text, options.max ?? 60)
    .replace(/__(BEGIN|END)FUNCTION__/gi, "")
    .replace(/[^\p{L}\p{N} ._+:/%,()=|-]/gu, "_")
    .replace(/:\/\//g, `:${JOINER}//`)
    .replace(/\bwww\./gi, (m) => `${m.slice(0, 3)}${JOINER}.`);
  return flat.trim() || "_";
}

/** A file-name-safe slug. */
export function slug(text: string): string {
  return (
    String(text)
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 60) || "x"
  );
}

/**
 * A URL for an href attribute (double-quoted): only http and https, entities for what could
 * end the attribute or the tag; null for anything else (javascript:, data:, relative paths).
 */
export function escapeUrlAttribute(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return null;
  return parsed.href.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/'/g, "&#39;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
