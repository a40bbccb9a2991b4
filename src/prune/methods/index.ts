/** The mask methods that need no data: magnitude (per matrix and global), random, N:M. Listed in ../registry.ts. */
export { magnitude, globalMagnitude, magnitudeMasks, globalMagnitudeMasks } from "./magnitude.ts";
export { random, randomMasks, randomKeys } from "./random.ts";
export { nm, nmMasks, parseNM, patternPart, type NMOptions } from "./nm.ts";
