import type { Sensitivity } from "../../results/schema.ts";
import type { RunContext } from "../context.ts";

/** Per-layer sensitivity scan; wired to src/prune/sensitivity.ts once it lands. */
export async function sensitivityStage(ctx: RunContext): Promise<Sensitivity | undefined> {
  ctx.progress.log("sensitivity: not available yet in this build");
  return undefined;
}
