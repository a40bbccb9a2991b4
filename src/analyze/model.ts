import { mapModel } from "../models/index.ts";
import type { Family, ModelMap } from "../models/types.ts";
import type { OnnxModel } from "../onnx/model.ts";
import type { Analysis } from "../results/analysis.ts";
import { analyzeWeights, type AnalyzeOptions } from "./engine.ts";
import { onnxWeightSource } from "./source.ts";

export interface AnalyzeModelOptions extends Omit<AnalyzeOptions, "params" | "source" | "label"> {
  model: OnnxModel;
  /** A map made already (by the caller or an earlier stage); made here when absent. */
  map?: ModelMap;
  /** Forces the family (a config's `family`) when the map is made here. */
  family?: Family;
}

/** Maps a model's initializers (src/models) and analyses its weights in one pass. */
export function analyzeModel(options: AnalyzeModelOptions): { analysis: Analysis; map: ModelMap } {
  const { model, map: given, family, ...rest } = options;
  const map = given ?? mapModel(model, family ? { family } : {});
  const source = onnxWeightSource(model);
  try {
    return { analysis: analyzeWeights({ ...rest, params: map.params, source, label: model.file }), map };
  } finally {
    source.close();
  }
}
