import type { Run } from "../results/schema.ts";
import type { modelFacts } from "./model-facts.ts";
import type { PlannedRun } from "./plan.ts";
import type { Measures } from "./stages/evaluate.ts";

/** The result file's record of one evaluated model (a sweep point, a search point, dense). */
export function runRecord(planned: PlannedRun, achieved: number, facts: ReturnType<typeof modelFacts>, measures: Measures, finetuned: boolean): Run {
  return {
    id: planned.id,
    method: planned.method,
    options: planned.options,
    sparsity: planned.sparsity,
    achievedSparsity: achieved,
    params: facts.params,
    nonzeroParams: facts.nonzeroParams,
    sizeBytes: facts.sizeBytes,
    finetuned,
    perplexity: measures.perplexity,
    latency: measures.latency,
    seconds: { evaluate: measures.seconds },
  };
}
