/**
 * Pruning: methods behind one interface (types.ts, registry.ts), the engine that loads
 * targets, applies masks and writes the pruned model (engine.ts), and the mask file that
 * fine-tuning reads back (mask-file.ts).
 */
export * from "./types.ts";
export * from "./errors.ts";
export * from "./bitmask.ts";
export * from "./registry.ts";
export * from "./rounding.ts";
export * from "./select.ts";
export * from "./mask-file.ts";
export * from "./methods/index.ts";
export * from "./targets.ts";
export * from "./result.ts";
export * from "./engine.ts";
export * from "./job.ts";
export * from "./reapply.ts";
export * from "./spec.ts";
