import { registerMethod } from "../registry.ts";
import { globalMagnitude, magnitude } from "./magnitude.ts";
import { nm } from "./nm.ts";
import { random } from "./random.ts";

export { magnitude, globalMagnitude, random, nm };
export { magnitudeMasks, globalMagnitudeMasks } from "./magnitude.ts";
export { randomMasks, randomKeys } from "./random.ts";
export { nmMasks, parseNM, type NMOptions } from "./nm.ts";

registerMethod(magnitude);
registerMethod(globalMagnitude);
registerMethod(random);
registerMethod(nm);
