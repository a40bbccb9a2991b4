/** Structured pruning: heads and neurons removed from the graph (structured.ts, rewrite.ts). */
export * from "./structured.ts";
export * from "./rewrite.ts";
