import { registerMethod } from "../registry.ts";
import { wanda } from "./wanda.ts";

export { wanda, wandaMasks, type WandaOptions } from "./wanda.ts";
export * from "./calibration.ts";

registerMethod(wanda);
