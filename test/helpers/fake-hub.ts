import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local HTTP server that answers as the Hugging Face hub does: /{repo}/resolve/{rev}/{file}
 * (and /datasets/...); large files answer 302 with X-Linked-Etag (their sha256) to a "CDN"
 * on a second origin, small ones 200 with their git blob sha1 as ETag; repositories under
 * "gated/" need `Authorization: Bearer <token>`.
 */
export interface FakeHub {
  endpoint: string;
  /** Every request, as "HUB GET /path" or "CDN GET /path", with its Authorization header. */
  requests: { origin: "hub" | "cdn"; path: string; authorization?: string }[];
  /** "datasets/owner/name@rev/file" or "owner/name@rev/file" -> bytes. */
  files: Map<string, Uint8Array>;
  /** Files whose served bytes differ from the announced hash, or end early. */
  corrupt: Set<string>;
  truncate: Set<string>;
  close(): Promise<void>;
}

export const LFS_THRESHOLD = 1024;
export const GATED_TOKEN = "hf_test_token";

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

export async function startFakeHub(): Promise<FakeHub> {
  const files = new Map<string, Uint8Array>();
  const requests: FakeHub["requests"] = [];
  const corrupt = new Set<string>();
  const truncate = new Set<string>();
  const blobs = new Map<string, { key: string; bytes: Uint8Array }>();

  const send = (res: http.ServerResponse, key: string, bytes: Uint8Array, headers: Record<string, string>) => {
    const body = corrupt.has(key) ? Buffer.from(bytes).map((b, i) => (i === 0 ? b ^ 1 : b)) : Buffer.from(bytes);
    res.writeHead(200, { "content-length": String(body.length), ...headers });
    if (truncate.has(key)) {
      res.write(body.subarray(0, body.length >> 1));
      res.socket?.destroy();
      return;
    }
    res.end(body);
  };

  const cdn = http.createServer((req, res) => {
    requests.push({ origin: "cdn", path: req.url ?? "", authorization: req.headers.authorization });
    const blob = blobs.get((req.url ?? "").replace(/^\/blobs\//, ""));
    if (!blob) return void res.writeHead(404).end();
    send(res, blob.key, blob.bytes, { etag: '"cdn-etag"' });
  });
  const cdnOrigin = await listen(cdn);

  const hub = http.createServer((req, res) => {
    requests.push({ origin: "hub", path: req.url ?? "", authorization: req.headers.authorization });
    const m = /^\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(req.url ?? "");
    if (!m) return void res.writeHead(404).end("Entry not found");
    const [, dataset, repo, revision, file] = m;
    const key = `${dataset ?? ""}${repo}@${decodeURIComponent(revision)}/${file.split("/").map(decodeURIComponent).join("/")}`;
    if (repo.startsWith("gated/") && req.headers.authorization !== `Bearer ${GATED_TOKEN}`) {
      return void res.writeHead(401, { "x-error-code": "GatedRepo" }).end("Access to this repo is restricted");
    }
    const bytes = files.get(key);
    if (!bytes) return void res.writeHead(404, { "x-error-code": "EntryNotFound" }).end("Entry not found");
    if (bytes.length >= LFS_THRESHOLD) {
      const sha = createHash("sha256").update(bytes).digest("hex");
      blobs.set(sha, { key, bytes });
      res.writeHead(302, { location: `${cdnOrigin}/blobs/${sha}`, "x-linked-etag": `"${sha}"`, "x-linked-size": String(bytes.length), "x-repo-commit": "0".repeat(40) });
      return void res.end();
    }
    const gitSha = createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
    send(res, key, bytes, { etag: `"${gitSha}"`, "x-repo-commit": "0".repeat(40) });
  });
  const endpoint = await listen(hub);
  return {
    endpoint,
    requests,
    files,
    corrupt,
    truncate,
    close: async () => {
      await Promise.all([hub, cdn].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
