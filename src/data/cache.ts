import os from "node:os";
import path from "node:path";

/**
 * Where downloads live: $PRUNEBENCH_CACHE, else $XDG_CACHE_HOME/prunebench, else
 * ~/.cache/prunebench. One folder per source, so deleting one source's files is safe.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PRUNEBENCH_CACHE) return path.resolve(env.PRUNEBENCH_CACHE);
  const base = env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), ".cache");
  return path.join(base, "prunebench");
}
