// Installs the packages of a lock file straight from the npm registry, without npm: each
// package's tarball, at the version and integrity the lock pins, is fetched with node:https
// and streamed through gunzip into node-tar (the `tar` package npm itself extracts with),
// which writes only the files a runner keeps (onnxruntime-node's binaries for this platform and
// architecture, not the 255 MB for other systems), while the sha512 of the whole tarball is
// computed as it streams. Nothing reaches the caller's folder unless every tarball matched its
// integrity: files land in a staging folder the caller renames into place. Plain JavaScript;
// bootstrap.js runs before anything is installed, so it loads this file as bundled, with tar
// inside, by scripts/build-dist.ts (dist/registry-install.js).
//
// It honours npm's settings for fetching (npm_config_*, .npmrc's registry, @scope:registry,
// //host/:_authToken, cafile, ca, cert, key, strict-ssl, with ${VAR} expansion). Settings it
// does not implement (proxies, other credentials) make it step aside: see directInstallBlocker.
/* global AbortController -- Node's own, since Node 15 */
import { createHash } from "node:crypto";
import { setMaxListeners } from "node:events";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { Transform } from "node:stream";
import { URL } from "node:url";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { Unpack } from "tar";

const DEFAULT_REGISTRY = "https://registry.npmjs.org/";
/** A connection that sends nothing for this long is given up (the caller falls back to npm). */
const STALL_MS = 30_000;
/** gunzip's output chunks: its default 16 KiB made inflating onnxruntime-node's 301 MB about twice as slow here. */
const GUNZIP_CHUNK = 1 << 18;

/** node-tar's types of entries that are files; links and the rest are skipped, as npm skips links. */
const FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);

/**
 * Streams a tar archive (not gzipped) through `streams` (the source first) and writes under dest
 * the files for which keep(path inside the package) is true. The first path component
 * ("package/") is dropped, as npm drops it. strict: what node-tar would only warn about is an
 * error here: a truncated entry, a bad header checksum, a path with ".." or an absolute one (a
 * package that tries to write outside its folder is refused, not installed in part). node-tar
 * accepts an archive cut at a header; one without its end-of-archive blocks is refused here.
 */
export async function extractTar(streams, dest, keep = () => true, signal = undefined) {
  mkdirSync(dest, { recursive: true });
  const unpack = new Unpack({
    cwd: dest,
    strip: 1,
    strict: true,
    filter: (entryPath, entry) => FILE_TYPES.has(entry.type) && keep(entryPath.slice(entryPath.indexOf("/") + 1)),
    // As npm: the archive's uid/gid and mtimes are not applied (a runner in a container runs as root).
    preserveOwner: false,
    noMtime: true,
  });
  let ended = false;
  unpack.on("eof", () => (ended = true));
  await pipeline(...streams, unpack, { signal });
  if (!ended) throw new Error("the tarball ends before its end-of-archive blocks (truncated)");
}

/** Thrown when a tarball does not match the lock's integrity: refused, never retried through npm. */
export class IntegrityError extends Error {}

/** "key=value" lines of an .npmrc, ${VAR} expanded as npm does; comments and sections skipped. */
export function parseNpmrc(text, env = process.env) {
  const out = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith(";") || line.startsWith("#") || line.startsWith("[")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    let value = line.slice(eq + 1).trim();
    if (/^".*"$/.test(value) || /^'.*'$/.test(value)) value = value.slice(1, -1);
    out[line.slice(0, eq).trim()] = value.replace(/\$\{([^${}?]+)\??\}/g, (_, name) => env[name] ?? "");
  }
  return out;
}

/**
 * npm's configuration as far as fetching tarballs goes, from the places npm reads it in order
 * of precedence: npm_config_* environment variables (any case), the user config
 * (npm_config_userconfig, default ~/.npmrc; actions/setup-node writes one), and the global
 * config (npm_config_globalconfig, default <prefix>/etc/npmrc).
 */
export function npmConfig(env = process.env) {
  const fromEnv = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || !/^npm_config_/i.test(key)) continue;
    // As @npmcli/config maps them: npm_config_https_proxy is https-proxy.
    fromEnv[key.slice("npm_config_".length).replace(/(?!^)_/g, "-").toLowerCase()] = value;
  }
  const prefix = fromEnv.prefix ?? (process.platform === "win32" ? path.dirname(process.execPath) : path.dirname(path.dirname(process.execPath)));
  const files = [fromEnv.globalconfig ?? path.join(prefix, "etc", "npmrc"), fromEnv.userconfig ?? path.join(env.HOME ?? os.homedir(), ".npmrc")];
  const config = {};
  for (const file of files) {
    if (!existsSync(file)) continue;
    try {
      Object.assign(config, parseNpmrc(readFileSync(file, "utf8"), env));
    } catch {
      // unreadable: npm would fail on it; the direct path carries on with what it has
    }
  }
  return Object.assign(config, fromEnv);
}

/**
 * Why the direct install should leave this runner to npm, or null: proxies (node:https does not
 * use them) and credentials other than a bearer token are npm's to apply.
 */
export function directInstallBlocker(config, env = process.env) {
  for (const name of ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"]) if (env[name]) return `a proxy is set (${name})`;
  for (const key of ["proxy", "https-proxy", "ca[]"]) if (config[key]) return `npm's ${key} setting is set`;
  const credential = Object.keys(config).find((key) => /(^|:)(_auth|_password|username|certfile|keyfile)$/.test(key));
  if (credential) return `npm's ${credential} setting is set`;
  return null;
}

/**
 * The TLS options npm would use: cafile (read; it replaces the built-in roots, as in npm), or
 * ca, client cert and key (PEM with "\n" for newlines, as .npmrc holds them), strict-ssl.
 */
export function tlsOptions(config) {
  const pem = (value) => value.replace(/\\n/g, "\n");
  const out = {};
  if (config.cafile) out.ca = readFileSync(config.cafile, "utf8");
  else if (config.ca) out.ca = pem(config.ca);
  if (config.cert) out.cert = pem(config.cert);
  if (config.key) out.key = pem(config.key);
  if (config["strict-ssl"] === "false") out.rejectUnauthorized = false;
  return out;
}

function withSlash(url) {
  return url.endsWith("/") ? url : `${url}/`;
}

/** The registry npm would fetch a package from: its scope's (@scope:registry), else registry. */
export function registryFor(config, name) {
  const scope = name.startsWith("@") ? name.split("/")[0] : null;
  return withSlash((scope && config[`${scope}:registry`]) || config.registry || DEFAULT_REGISTRY);
}

/** The registry's tarball URL for name@version (the path every npm registry serves). */
export function tarballUrl(config, name, version) {
  return `${registryFor(config, name)}${name}/-/${name.split("/").pop()}-${version}.tgz`;
}

/** The bearer token npm would send to this URL: the longest //host/path/:_authToken that prefixes it. */
export function authTokenFor(config, url) {
  const bare = url.replace(/^https?:/, "");
  let best = null;
  for (const [key, value] of Object.entries(config)) {
    const m = /^(\/\/.*):_authToken$/.exec(key);
    if (m && value && bare.startsWith(withSlash(m[1])) && (!best || m[1].length > best.length)) best = { length: m[1].length, value };
  }
  return best?.value ?? null;
}

/** The strongest hash of an SRI string npm understands ("sha512-..."), or null. */
function parseIntegrity(integrity) {
  const entries = String(integrity ?? "").split(/\s+/).map((s) => /^(sha512|sha384|sha256|sha1)-(.+)$/.exec(s)).filter(Boolean);
  for (const algorithm of ["sha512", "sha384", "sha256", "sha1"]) {
    const hit = entries.find((m) => m[1] === algorithm);
    if (hit) return { algorithm, digest: hit[2] };
  }
  return null;
}

/**
 * Where Node finds `name` required from the package at lock path `from` ("" for the root):
 * from/node_modules/name, else one folder up, and so on; the lock key, or null.
 */
export function resolveInLock(packages, from, name) {
  for (let dir = from; ; dir = dir.replace(/\/?node_modules\/(@[^/]+\/)?[^/]+$/, "")) {
    const key = `${dir ? `${dir}/` : ""}node_modules/${name}`;
    if (packages[key]) return key;
    if (!dir) return null;
  }
}

/**
 * The packages the lock's root needs, following each one's dependencies through the lock, but
 * none named in skip (nor what only they need), as { key, name, version, integrity, dir } (dir
 * relative to node_modules). Throws naming the first entry the direct install cannot handle (a
 * link, a git or file dependency, a bundled or optional one, one missing): npm installs those.
 */
export function lockPackages(lock, skip = new Set()) {
  const packages = lock.packages ?? {};
  const out = [];
  const seen = new Set();
  const visit = (from, entry) => {
    for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
      if (skip.has(dep)) continue;
      const key = resolveInLock(packages, from, dep);
      if (!key) throw new Error(`the lock has no entry for ${dep} (needed by ${from || "the root"})`);
      if (seen.has(key)) continue;
      seen.add(key);
      const e = packages[key];
      const reason = e.link ? "is a link" : e.inBundle ? "is bundled" : e.optional ? "is optional" : !e.version ? "has no version" : !parseIntegrity(e.integrity) ? "has no integrity" : e.resolved && !/^https?:\/\/.*\.tgz$/.test(e.resolved) ? `is resolved to ${e.resolved}` : null;
      if (reason) throw new Error(`lock entry ${key} ${reason}`);
      out.push({ key, name: e.name ?? key.slice(key.lastIndexOf("node_modules/") + "node_modules/".length), version: e.version, integrity: e.integrity, dir: key.slice("node_modules/".length) });
      visit(key, e);
    }
  };
  visit("", packages[""] ?? {});
  return out;
}

/**
 * A GET answered 200, as a readable stream; redirects followed (at most 5; the token is not
 * sent to another host). A connection idle for STALL_MS is dropped with an error.
 */
function get(url, { headers, tls, signal }, redirects = 0) {
  const target = new URL(url);
  const client = target.protocol === "https:" ? https : target.protocol === "http:" ? http : null;
  if (!client) return Promise.reject(new Error(`unsupported protocol ${target.protocol}`));
  return new Promise((resolve, reject) => {
    const request = client.get(target, { headers, signal, timeout: STALL_MS, ...(client === https ? tls : {}) }, (response) => {
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400 && response.headers.location && redirects < 5) {
        response.resume();
        const next = new URL(response.headers.location, target);
        const anonymous = { ...headers };
        delete anonymous.authorization;
        resolve(get(next.href, { headers: next.host === target.host ? headers : anonymous, tls, signal }, redirects + 1));
      } else if (status !== 200) {
        response.resume();
        reject(new Error(`HTTP ${status} ${response.statusMessage ?? ""}`.trim()));
      } else resolve(response);
    });
    request.on("timeout", () => request.destroy(new Error(`no data for ${STALL_MS / 1000} s`)));
    request.on("error", reject);
  });
}

/**
 * Fetches one tarball and extracts it into dest, checking the integrity of every byte received.
 * Throws IntegrityError on a mismatch, any other error for the network or the archive.
 */
export async function fetchPackage({ url, integrity, dest, keep, token, tls = {}, signal }) {
  const expected = parseIntegrity(integrity);
  if (!expected) throw new Error(`${url}: the lock has no usable integrity (${integrity})`);
  const headers = { accept: "application/octet-stream", "user-agent": `prunebench-bootstrap node/${process.version}` };
  if (token) headers.authorization = `Bearer ${token}`;
  const hash = createHash(expected.algorithm);
  try {
    const response = await get(url, { headers, tls, signal });
    const tap = new Transform({
      transform(chunk, _encoding, callback) {
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    await extractTar([response, tap, createGunzip({ chunkSize: GUNZIP_CHUNK })], dest, keep, signal);
  } catch (error) {
    const reason = signal?.aborted ? signal.reason : error;
    throw new Error(`${url}: ${reason?.message ?? String(reason)}`, { cause: error });
  }
  const actual = hash.digest("base64");
  if (actual !== expected.digest) throw new IntegrityError(`${url} does not match the lock's integrity (${expected.algorithm}-${expected.digest.slice(0, 16)}..., got ${expected.algorithm}-${actual.slice(0, 16)}...): refusing to install it`);
}

/**
 * The lock's packages (but those in skip, see lockPackages) into modules (a node_modules folder),
 * all at once. On the first failure the other downloads are stopped, and once none is still
 * writing, that failure is thrown (the caller discards the folder). keep(package name, relative
 * path) chooses the files.
 */
export async function installFromRegistry({ lock, modules, keep, skip, config }) {
  const packages = lockPackages(lock, skip);
  const tls = tlsOptions(config);
  const stop = new AbortController();
  // Each download listens on it (the request and the stream pipeline): more than Node's default 10.
  setMaxListeners(4 * packages.length + 10, stop.signal);
  let first = null;
  await Promise.allSettled(
    packages.map(async (pkg) => {
      const url = tarballUrl(config, pkg.name, pkg.version);
      try {
        await fetchPackage({ url, integrity: pkg.integrity, dest: path.join(modules, pkg.dir), keep: (rel) => keep(pkg.name, rel), token: authTokenFor(config, url), tls, signal: stop.signal });
      } catch (error) {
        if (!first) {
          first = error;
          stop.abort(error);
        }
      }
    }),
  );
  if (first) throw first;
  return packages.length;
}
