import type { Result } from "../results/schema.ts";

/**
 * One result per model: matrix shards of the same model are merged (runs by id, later
 * files win; the first analysis and sensitivity found). Warnings note shards whose runner
 * differs, since their latencies cannot be read together.
 */
export function mergeByModel(results: Result[]): Result[] {
  const byModel = new Map<string, Result>();
  for (const r of results) {
    const seen = byModel.get(r.model);
    if (!seen) {
      byModel.set(r.model, { ...r, runs: [...r.runs], warnings: [...r.warnings] });
      continue;
    }
    const runs = new Map(seen.runs.map((run) => [run.id, run]));
    for (const run of r.runs) runs.set(run.id, run);
    seen.runs = [...runs.values()];
    seen.analysis ??= r.analysis;
    seen.sensitivity ??= r.sensitivity;
    seen.warnings.push(...r.warnings.filter((w) => !seen.warnings.includes(w)));
    if (r.runner.fingerprint !== seen.runner.fingerprint) {
      seen.warnings.push(`shard ${r.shard ?? "?"} ran on a different runner (${r.runner.fingerprint}) than the first (${seen.runner.fingerprint})`);
    }
  }
  return [...byModel.values()];
}
