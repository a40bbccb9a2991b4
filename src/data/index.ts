export * from "./corpus.ts";
export * from "./cache.ts";
export * from "./bundled.ts";
export * from "./folder.ts";
export * from "./hub.ts";
export * from "./hub-model.ts";
export * from "./wikitext-hub.ts";
export * from "./resolve.ts";
