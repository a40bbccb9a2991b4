/**
 * The Action's run mode calls the same function as `prunebench run` (src/pipeline, issue 10).
 * It is loaded when needed, so the report mode works in a checkout without the heavy stages,
 * and tests pass a function of their own.
 */
export interface RunConfigsOptions {
  configs: string[];
  outDir: string;
  /** Stamped into each result: the commit measured and the matrix shard. */
  commit?: string | null;
  shard?: string;
  /** The Action renders its own report from every shard, with the stored baseline. */
  report?: boolean;
  /** Providers to keep to (CPU after a CUDA install fell back); overrides the configs'. */
  providers?: Array<"cpu" | "cuda">;
}

export type RunConfigs = (options: RunConfigsOptions) => Promise<unknown>;

export async function loadRunConfigs(): Promise<RunConfigs> {
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
