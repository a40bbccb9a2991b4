import { mapModel } from "../models/index.ts";
import type { Family, ModelMap } from "../models/types.ts";
import { AnalyzeSchema } from "../config/schema.ts";
import { readModel, type OnnxModel } from "../onnx/model.ts";
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

/** The analyze stage's request, from a config or the command line: plain data. */
export interface AnalyzeRequest {
  /** The model file. */
  model: string;
  /** Forces the family (a config's `model.family`); detected when left out. */
  family?: Family;
  cutoffs: number[];
}

/** The request with what is left out filled in from the config schema's `analyze` defaults. */
export function analyzeRequest(input: { model: string; family?: Family; cutoffs?: number[] }): AnalyzeRequest {
  return { model: input.model, family: input.family, cutoffs: AnalyzeSchema.parse({ cutoffs: input.cutoffs }).cutoffs };
}

/** Runs an analyze request: `prunebench analyze` and the pipeline's analyze stage alike. */
export function runAnalyze(request: AnalyzeRequest, options: Pick<AnalyzeModelOptions, "map" | "onProgress"> = {}): { analysis: Analysis; map: ModelMap } {
  return analyzeModel({ model: readModel(request.model), family: request.family, cutoffs: request.cutoffs, ...options });
}
