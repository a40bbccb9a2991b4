/**
 * Calibrated pruning: methods that look at the activations of calibration text (Wanda,
 * SparseGPT, OWL over either). Listed in ../registry.ts.
 */
export { wanda, wandaMasks, type WandaOptions } from "./wanda.ts";
export * from "./calibration.ts";
export * from "./sparsegpt.ts";
export * from "./sparsegpt-solve.ts";
export * from "./owl.ts";
export * from "./job.ts";
