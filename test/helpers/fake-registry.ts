/**
 * A local npm registry for action/bootstrap.js's direct install: serves real tarballs (made by
 * `npm pack` from folders the test writes) at the registry's tarball paths, and can refuse,
 * cut a download off halfway, or hold one back until the test lets it go.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

export interface Packed {
  name: string;
  version: string;
  tarball: Buffer;
  integrity: string;
}

/** `npm pack` of a package made of these files (path: content); package.json is written from name and version. */
export function packPackage(name: string, version: string, files: Record<string, string | Buffer>): Packed {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-pack-"));
  try {
    const src = path.join(dir, "src");
    for (const [file, content] of Object.entries({ "package.json": JSON.stringify({ name, version }), ...files })) {
      mkdirSync(path.dirname(path.join(src, file)), { recursive: true });
      writeFileSync(path.join(src, file), content);
    }
    const out = JSON.parse(execFileSync("npm", ["pack", "--pack-destination", dir, "--ignore-scripts", "--json"], { cwd: src, env: { ...process.env, npm_config_loglevel: "error" } }).toString()) as Array<{ filename: string }>;
    const tarball = readFileSync(path.join(dir, out[0].filename));
    return { name, version, tarball, integrity: sriOf(tarball) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function sriOf(bytes: Buffer): string {
  return `sha512-${createHash("sha512").update(bytes).digest("base64")}`;
}

/**
 * A lock file as npm writes it for these packages, flat under node_modules: the root depends on
 * the first, and each on those its `dependencies` name.
 */
export function lockOf(packages: Array<Pick<Packed, "name" | "version" | "integrity"> & { dependencies?: string[] }>): string {
  const deps = (names: string[] = []) => (names.length ? { dependencies: Object.fromEntries(names.map((n) => [n, packages.find((p) => p.name === n)?.version ?? "*"])) } : {});
  const entries = Object.fromEntries(packages.map((p) => [`node_modules/${p.name}`, { version: p.version, integrity: p.integrity, ...deps(p.dependencies) }]));
  const root = { name: "prunebench-action-runtime", version: "0.1.0", ...deps([packages[0].name]) };
  return JSON.stringify({ name: root.name, version: root.version, lockfileVersion: 3, requires: true, packages: { "": root, ...entries } });
}

export type Answer = "ok" | "error" | "truncate" | "hold";

export interface FakeRegistry {
  url: string;
  /** Each request's path and Authorization header. */
  requests: Array<{ path: string; authorization?: string }>;
  /** How tarball requests are answered: serve, 500, send half then drop the connection, or wait for release(). */
  answer: Answer;
  /** Only this bearer token is accepted when set (401 otherwise). */
  token?: string;
  release: () => void;
  close: () => Promise<void>;
}

export async function startRegistry(packages: Packed[]): Promise<FakeRegistry> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const byPath = new Map(packages.map((p) => [`/${p.name}/-/${p.name.split("/").pop()}-${p.version}.tgz`, p]));
  const registry: FakeRegistry = { url: "", requests: [], answer: "ok", release, close: async () => {} };
  const server = http.createServer((req, res) => {
    registry.requests.push({ path: req.url ?? "", authorization: req.headers.authorization });
    const pkg = byPath.get(req.url ?? "");
    if (!pkg) return void res.writeHead(404).end("not found");
    if (registry.token && req.headers.authorization !== `Bearer ${registry.token}`) return void res.writeHead(401).end("unauthorized");
    if (registry.answer === "error") return void res.writeHead(500).end("registry down");
    const send = () => {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": pkg.tarball.length });
      if (registry.answer === "truncate") {
        res.write(pkg.tarball.subarray(0, pkg.tarball.length >> 1), () => res.destroy());
        return;
      }
      res.end(pkg.tarball);
    };
    if (registry.answer === "hold") void released.then(send);
    else send();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  registry.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  registry.close = () => {
    release();
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return registry;
}
