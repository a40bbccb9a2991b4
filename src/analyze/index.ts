export { analyzeWeights, DEFAULT_CUTOFFS, NonFiniteWeightsError, type AnalyzeOptions } from "./engine.ts";
export { onnxWeightSource, type WeightSource } from "./source.ts";
export { CONVENTION, countParams, isCounted, isHead, isParameter, type ParamCounts } from "./counts.ts";
export { analyzeModel, analyzeRequest, runAnalyze, type AnalyzeModelOptions, type AnalyzeRequest } from "./model.ts";
export { analysisMarkdown, curveChart, histogramChart, type NamedAnalysis } from "./markdown.ts";
