import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { writeAllAt, writeAtomicWithAsync } from "../util/atomic.ts";
import { UserError } from "../errors.ts";

/**
 * Downloads from the Hugging Face hub, with its URL layout:
 *   {endpoint}/{repo}/resolve/{revision}/{file}            (models)
 *   {endpoint}/datasets/{repo}/resolve/{revision}/{file}   (datasets)
 * Large (LFS) files answer with a redirect whose X-Linked-Etag is their sha256; small files'
 * ETag is the git blob sha1. Both are checked, so a cached file is the file the hub serves.
 */
export const HUB_ENDPOINT = "https://huggingface.co";

export interface HubFile {
  /** "owner/name". */
  repo: string;
  /** Path inside the repository, with "/" separators. */
  file: string;
  /** Branch, tag or commit; a commit pins the bytes, a branch is fetched once and then kept. */
  revision?: string;
  kind?: "model" | "dataset";
}

export interface HubOptions {
  /** Root of the download cache (see defaultCacheDir). */
  cacheDir: string;
  /** Defaults to $HF_ENDPOINT or https://huggingface.co; tests pass a server on 127.0.0.1. */
  endpoint?: string;
  /** Defaults to $HF_TOKEN (or $HUGGING_FACE_HUB_TOKEN); sent as a Bearer token for gated and private repos. */
  token?: string;
  fetch?: typeof fetch;
  /** Progress, in bytes, for long downloads. */
  onProgress?: (progress: { repo: string; file: string; bytes: number; total?: number }) => void;
}

export class HubError extends UserError {
  constructor(
    readonly ref: HubFile,
    readonly status: number | undefined,
    message: string,
  ) {
    super(`${ref.kind === "dataset" ? "dataset " : ""}${ref.repo}, file ${JSON.stringify(ref.file)} at ${ref.revision ?? "main"}: ${message}`, { file: ref.file });
  }
}

const REPO = /^[\w.-]+\/[\w.-]+$/;

function checkRef(ref: HubFile): void {
  if (!REPO.test(ref.repo) || ref.repo.includes("..")) throw new HubError(ref, undefined, "the repository must be written owner/name");
  const parts = ref.file.split("/");
  if (ref.file.startsWith("/") || ref.file.includes("\\") || parts.some((p) => p === ".." || p === "." || p === "")) {
    throw new HubError(ref, undefined, "the file must be a relative path inside the repository");
  }
}

/** The local path a hub file is cached at: {cache}/hub/{models|datasets}/{owner}/{name}/{revision}/{file}. */
export function hubCachePath(ref: HubFile, cacheDir: string): string {
  checkRef(ref);
  const revision = encodeURIComponent(ref.revision ?? "main");
  return path.join(cacheDir, "hub", ref.kind === "dataset" ? "datasets" : "models", ...ref.repo.split("/"), revision, ...ref.file.split("/"));
}

export function hubUrl(ref: HubFile, endpoint = HUB_ENDPOINT): string {
  const file = ref.file.split("/").map(encodeURIComponent).join("/");
  const prefix = ref.kind === "dataset" ? "datasets/" : "";
  return `${endpoint.replace(/\/+$/, "")}/${prefix}${ref.repo}/resolve/${encodeURIComponent(ref.revision ?? "main")}/${file}`;
}

function tokenOf(options: HubOptions): string | undefined {
  return options.token ?? (process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN || undefined);
}

function statusMessage(status: number): string {
  if (status === 401 || status === 403) return `HTTP ${status}: access denied; for a gated or private repository set HF_TOKEN to a token that can read it`;
  if (status === 404) return `HTTP ${status}: not found; check the repository, the file path and the revision`;
  if (status === 429) return `HTTP ${status}: rate limited by the hub; wait and retry, or set HF_TOKEN`;
  return `HTTP ${status}`;
}

/** What the hub says the file's bytes hash to: sha256 for LFS files, git blob sha1 otherwise. */
interface Expected {
  sha256?: string;
  gitSha1?: string;
}

function unquote(etag: string | null): string | undefined {
  return etag?.replace(/^W\//, "").replace(/^"|"$/g, "");
}

/**
 * Downloads one file into the cache once; later calls return the cached path without any
 * request. The bytes go to a temporary file beside the target, are checked against the size
 * and hash the hub announced, and only then renamed into place: an interrupted download leaves
 * no file that a later run could mistake for a complete one.
 */
export async function hubDownload(ref: HubFile, options: HubOptions): Promise<string> {
  const target = hubCachePath(ref, options.cacheDir);
  if (existsSync(target)) return target;
  const doFetch = options.fetch ?? fetch;
  const url = hubUrl(ref, options.endpoint ?? process.env.HF_ENDPOINT ?? HUB_ENDPOINT);
  const token = tokenOf(options);
  const headers: Record<string, string> = { "user-agent": "prunebench" };
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    // The first answer is read without following redirects: its X-Linked-Etag carries an LFS file's sha256.
    response = await doFetch(url, { headers, redirect: "manual" });
  } catch (error) {
    throw new HubError(ref, undefined, `request to ${url} failed: ${(error as Error).message}`);
  }
  const expected: Expected = {};
  const linked = unquote(response.headers.get("x-linked-etag"));
  if (linked && /^[0-9a-f]{64}$/.test(linked)) expected.sha256 = linked;
  if (response.status >= 300 && response.status < 400) {
    const location = response.headers.get("location");
    await response.body?.cancel();
    if (!location) throw new HubError(ref, response.status, `redirect without a location from ${url}`);
    const next = new URL(location, url);
    // The token is for the hub only; a CDN on another origin gets no credentials.
    const nextHeaders = next.origin === new URL(url).origin ? headers : { "user-agent": headers["user-agent"] };
    try {
      response = await doFetch(next, { headers: nextHeaders, redirect: "follow" });
    } catch (error) {
      throw new HubError(ref, undefined, `request to ${next.origin} failed: ${(error as Error).message}`);
    }
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new HubError(ref, response.status, statusMessage(response.status));
  }
  if (!expected.sha256) {
    const etag = unquote(response.headers.get("x-linked-etag") ?? response.headers.get("etag"));
    if (etag && /^[0-9a-f]{64}$/.test(etag)) expected.sha256 = etag;
    else if (etag && /^[0-9a-f]{40}$/.test(etag)) expected.gitSha1 = etag;
  }
  const lengthHeader = response.headers.get("content-length");
  const total = lengthHeader && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  const sha256 = createHash("sha256");
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    await writeAtomicWithAsync(target, async (fd) => {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        sha256.update(chunk);
        if (expected.gitSha1) chunks.push(Buffer.from(chunk));
        writeAllAt(fd, chunk);
        bytes += chunk.byteLength;
        options.onProgress?.({ repo: ref.repo, file: ref.file, bytes, total });
      }
      if (total !== undefined && bytes !== total) throw new HubError(ref, response.status, `download ended after ${bytes} of ${total} bytes`);
      const actual = sha256.digest("hex");
      if (expected.sha256 && actual !== expected.sha256) throw new HubError(ref, response.status, `sha256 ${actual} does not match the hub's ${expected.sha256}`);
      if (expected.gitSha1) {
        const blob = createHash("sha1").update(`blob ${bytes}\0`).update(Buffer.concat(chunks)).digest("hex");
        if (blob !== expected.gitSha1) throw new HubError(ref, response.status, `git blob sha1 ${blob} does not match the hub's ETag ${expected.gitSha1}`);
      }
    });
  } catch (error) {
    if (error instanceof HubError) throw error;
    throw new HubError(ref, response.status, `download failed: ${(error as Error).message}`);
  }
  return target;
}
