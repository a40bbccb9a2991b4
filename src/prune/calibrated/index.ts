/**
 * Calibrated pruning: methods that look at the activations of calibration text (Wanda,
 * SparseGPT, OWL over either). Importing this module registers them.
 */
import { registerMethod } from "../registry.ts";
import { owl } from "./owl.ts";
import { sparsegpt } from "./sparsegpt.ts";
import { wanda } from "./wanda.ts";

export { wanda, wandaMasks, type WandaOptions } from "./wanda.ts";
export * from "./calibration.ts";
export * from "./sparsegpt.ts";
export * from "./sparsegpt-solve.ts";
export * from "./owl.ts";

registerMethod(wanda);
registerMethod(sparsegpt);
registerMethod(owl);
