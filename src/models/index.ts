/**
 * Architecture families: recognising real exports (mapModel) and building such graphs at any
 * size (buildModel / writeBuiltModel).
 */
export type * from "./types.ts";
export { mapModel, type MapOptions } from "./recognize/map.ts";
export {
  buildModel,
  writeBuiltModel,
  builtWeightBytes,
  builtWeightShapes,
  parameterCount,
  headParameterCount,
  resolveSizes,
  PRESETS,
  PRESET_NAMES,
  type ArchitectureConfig,
  type PresetName,
  type BuildOptions,
  type WrittenModel,
} from "./build/index.ts";
export { modelLimits, fitSequenceLength, type ModelLimits, type ModelLimit } from "./limits.ts";
