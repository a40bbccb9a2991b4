export * from "./errors.ts";
export * from "./dtype.ts";
export * from "./model.ts";
export * from "./tensor.ts";
export * from "./write.ts";
export * from "./graph.ts";
export * from "./dims.ts";
export * from "./infer.ts";
