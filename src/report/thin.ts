import type { Result, Run } from "../results/schema.ts";

/**
 * The runs a model's section keeps when the whole section would not fit a comment: the dense
 * run, the `perMethod` best runs of each method (lowest token perplexity; fine-tuned rows count
 * as their own method), and the worst run, so the range stays visible. Runs without a
 * perplexity are kept only when they failed and nothing else of their method is. Returns the
 * result unchanged when nothing would be left out.
 */
export function thinRuns(result: Result, perMethod: number): { result: Result; kept: number; total: number } {
  const keep = new Set<Run>();
  const groups = new Map<string, Run[]>();
  for (const run of result.runs) {
    if (run.method === "dense" && !run.finetuned) {
      keep.add(run);
      continue;
    }
    const key = `${run.method}${run.finetuned ? " + fine-tune" : ""}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  const ppl = (run: Run) => run.perplexity?.token ?? Number.POSITIVE_INFINITY;
  let worst: Run | undefined;
  for (const runs of groups.values()) {
    const ranked = [...runs].sort((a, b) => ppl(a) - ppl(b));
    for (const run of ranked.slice(0, perMethod)) keep.add(run);
    const scored = ranked.filter((run) => Number.isFinite(ppl(run)));
    const last = scored.at(-1);
    if (last && (!worst || ppl(last) > ppl(worst))) worst = last;
  }
  if (worst) keep.add(worst);
  if (keep.size >= result.runs.length) return { result, kept: result.runs.length, total: result.runs.length };
  return { result: { ...result, runs: result.runs.filter((run) => keep.has(run)) }, kept: keep.size, total: result.runs.length };
}
