export * from "./training-graph.ts";
export * from "./train.ts";
export * from "./optimizer.ts";
export * from "./masks.ts";
export * from "./external.ts";
export * from "./gradcheck.ts";
export * from "./checkpoint.ts";
export { GRAD_RULES, NON_DIFFERENTIABLE } from "./grad/index.ts";
