/**
 * The Action's run mode calls the same function as `prunebench run` (src/pipeline, issue 10).
 * It is loaded when needed, so the report mode works in a checkout without the heavy stages,
 * and tests pass a function of their own. Its options are the pipeline's own type: a type-only
 * import, which the bundle leaves out.
 */
import type { RunConfigsOptions } from "../src/pipeline/index.ts";

export type { RunConfigsOptions };

export type RunConfigs = (options: RunConfigsOptions) => Promise<unknown>;

/**
 * bootstrap.js installs the runtime packages (onnxruntime-node) while the Action starts and
 * leaves the pending install under this key; whatever loads onnxruntime-node waits for it
 * first. Absent when the Action runs without bootstrap.js (tests), or the install is done.
 */
const RUNTIME_INSTALL = Symbol.for("prunebench.runtimeInstall");

export async function runtimeInstalled(): Promise<void> {
  await (globalThis as { [RUNTIME_INSTALL]?: Promise<unknown> })[RUNTIME_INSTALL];
}

export async function loadRunConfigs(): Promise<RunConfigs> {
  await runtimeInstalled();
  let mod: { runConfigs?: unknown };
  try {
    // A literal specifier, so that esbuild puts the pipeline in a chunk of its own (dist/).
    mod = (await import("../src/pipeline/index.ts")) as { runConfigs?: unknown };
  } catch (error) {
    throw new Error(`cannot load the pipeline (src/pipeline/index.ts): ${(error as Error).message}`, { cause: error });
  }
  if (typeof mod.runConfigs !== "function") throw new Error("src/pipeline/index.ts does not export runConfigs; this version cannot run configs");
  return mod.runConfigs as RunConfigs;
}
