import { analyzeRequest, runAnalyze } from "../../analyze/model.ts";
import type { Analysis } from "../../results/analysis.ts";
import type { RunContext } from "../context.ts";

/** The study's first half: weight statistics of the dense model, from one streaming pass. */
export function analyzeStage(ctx: RunContext): Analysis {
  const done = ctx.journal.get<Analysis>("analyze");
  if (done) return done;
  ctx.progress.log(`analyze ${ctx.loaded.config.name}`);
  const request = analyzeRequest({ model: ctx.modelFile, family: ctx.map.family, cutoffs: ctx.loaded.config.analyze.cutoffs });
  const { analysis } = runAnalyze(request, { map: ctx.map });
  ctx.journal.put("analyze", analysis);
  return analysis;
}
