/** Structured pruning: heads and neurons removed from the graph (structured.ts, rewrite.ts), registered as `structured` (method.ts). */
export * from "./structured.ts";
export * from "./rewrite.ts";
export * from "./method.ts";
