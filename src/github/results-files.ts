import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { Result } from "../results/schema.ts";
import { ResultFileError, parseResult } from "../results/read.ts";
import { formatIssues } from "../errors.ts";

export interface ResultFile {
  file: string;
  result: Result;
}

/** A JSON file that claims to be a result (has `schema`), as opposed to journals and manifests. */
function claimsResult(text: string): boolean {
  try {
    const json = JSON.parse(text) as unknown;
    return typeof json === "object" && json !== null && "schema" in json && "runs" in json;
  } catch {
    return true;
  }
}

/**
 * Every result file under a folder (artifacts nest one folder per shard). Files that are
 * not results are skipped; files that claim to be results and fail the schema are errors.
 */
export function readResultFiles(root: string): ResultFile[] {
  if (!existsSync(root)) return [];
  const out: ResultFile[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith(".") || name === "node_modules") continue;
      const p = path.join(dir, name);
      const stat = statSync(p);
      if (stat.isDirectory()) walk(p);
      else if (name.endsWith(".json") && name !== MANIFEST_NAME) {
        const text = readFileSync(p, "utf8");
        if (claimsResult(text)) out.push({ file: p, result: parseResult(text, p) });
      }
    }
  };
  walk(root);
  return out;
}

/** Shard results for one model merged into one result: runs joined, later shards win a tie. */
export function mergeShards(files: ResultFile[]): { results: Result[]; warnings: string[] } {
  const byModel = new Map<string, Result>();
  const warnings: string[] = [];
  for (const { file, result } of files) {
    const key = `${result.model}\u0000${result.runner.fingerprint}`;
    const have = byModel.get(key);
    if (!have) {
      byModel.set(key, { ...result, runs: [...result.runs], warnings: [...result.warnings], timings: { ...result.timings } });
      continue;
    }
    if (have.configHash !== result.configHash) warnings.push(`${file}: model ${result.model} was run with a different config than another shard`);
    for (const run of result.runs) {
      const i = have.runs.findIndex((r) => r.id === run.id);
      if (i >= 0) {
        warnings.push(`${file}: run ${run.id} of ${result.model} is in two shards; keeping this one`);
        have.runs[i] = run;
      } else have.runs.push(run);
    }
    have.analysis ??= result.analysis;
    have.sensitivity ??= result.sensitivity;
    have.warnings.push(...result.warnings);
    for (const [k, v] of Object.entries(result.timings)) have.timings[k] = (have.timings[k] ?? 0) + v;
    have.shard = [have.shard, result.shard].filter(Boolean).join("+") || undefined;
  }
  return { results: [...byModel.values()], warnings };
}

/** Written by the run job beside its results: what the trusted report job needs to post. */
export const MANIFEST_NAME = "prunebench-run.json";

export const ManifestSchema = z.object({
  manifest: z.literal(1),
  shard: z.string(),
  commit: z.string(),
  pull: z.number().int().positive().optional(),
  baseSha: z.string().optional(),
  configs: z.array(z.string()),
  eventName: z.string(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export function readManifests(root: string): Manifest[] {
  const out: Manifest[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name === MANIFEST_NAME) {
        let json: unknown;
        try {
          json = JSON.parse(readFileSync(p, "utf8"));
        } catch (error) {
          throw new ResultFileError(p, [(error as Error).message], "not valid JSON");
        }
        const parsed = ManifestSchema.safeParse(json);
        if (!parsed.success) throw new ResultFileError(p, formatIssues(parsed.error), "not a valid prunebench run manifest");
        out.push(parsed.data);
      }
    }
  };
  if (existsSync(root)) walk(root);
  return out;
}

/** "<model>.<shard>.json": one file per model and shard (docs/architecture.md). */
export function shardFileName(result: Pick<Result, "model" | "shard">): string {
  const clean = (s: string) => s.replace(/[^\w.-]/g, "_");
  return `${clean(result.model)}${result.shard ? `.${clean(result.shard)}` : ""}.json`;
}
