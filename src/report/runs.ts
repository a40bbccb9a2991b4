import type { Latency, Result, Run } from "../results/schema.ts";
import { latencyKey } from "./compare.ts";

/** The method part of a run id ("nm:2:4@0.5+ft" -> "nm:2:4"): one series per method and options. */
export function methodLabel(run: Run): string {
  const at = run.id.indexOf("@");
  return at > 0 ? run.id.slice(0, at) : run.method;
}

export function isDense(run: Run): boolean {
  return run.method === "dense" || run.sparsity === 0;
}

export interface MethodGroup {
  label: string;
  finetuned: boolean;
  /** Sorted by sparsity. */
  runs: Run[];
}

/** Pruned runs grouped by method and fine-tuning, in first-seen order. */
export function methodGroups(result: Result): MethodGroup[] {
  const groups = new Map<string, MethodGroup>();
  for (const run of result.runs) {
    if (isDense(run) || run.error) continue;
    const label = methodLabel(run);
    const key = `${label}\u0000${run.finetuned}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { label, finetuned: run.finetuned, runs: [] }));
    g.runs.push(run);
  }
  for (const g of groups.values()) g.runs.sort((a, b) => a.sparsity - b.sparsity);
  return [...groups.values()];
}

export function denseRun(result: Result): Run | undefined {
  return result.runs.find((r) => isDense(r) && !r.finetuned && !r.error);
}

/** The dense model fine-tuned with the run's recipe: the control of every fine-tuned row. */
export function denseTunedRun(result: Result): Run | undefined {
  return result.runs.find((r) => isDense(r) && r.finetuned && !r.error);
}

/** Latency settings measured for the model, in first-seen order. */
export function latencyKeys(result: Result): string[] {
  const keys = new Set<string>();
  for (const run of result.runs) for (const l of run.latency) keys.add(latencyKey(l));
  return [...keys];
}

export function latencyFor(run: Run, key: string): Latency | undefined {
  return run.latency.find((l) => latencyKey(l) === key);
}
