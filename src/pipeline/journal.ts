import { existsSync, readFileSync, mkdirSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import { writeJsonAtomic } from "../util/atomic.ts";

/**
 * Where a run keeps each finished stage. A stage's output is written atomically the moment it
 * finishes, keyed by the config hash and the stage's own id, so a run killed at any point
 * (SIGINT, kill -9, a lost runner) starts again where it stopped and a changed config never
 * reuses stale work.
 *
 * Paths inside the output folder (artifacts: pruned and tuned models, masks) are stored
 * relative to it, as "$OUT/<model>/artifacts/...", so a folder that is moved, renamed or
 * restored from a CI cache elsewhere still resumes. A stage whose artifact is gone (a cache
 * that kept the journal but not the models) reads as not done, and is redone.
 */
export interface StageJournal {
  readonly dir: string;
  has(stage: string): boolean;
  get<T>(stage: string): T | undefined;
  put<T>(stage: string, value: T): void;
  /** An absolute file path for a stage's artifact (a pruned model, a mask), under the journal. */
  artifact(stage: string, fileName: string): string;
}

/** Marks a path stored relative to the output folder. */
const OUT_PREFIX = "$OUT/";
/** Records written with relative paths say so; older ones hold absolute paths. */
const RELATIVE_PATHS = "relative-to-out";

interface StageRecord<T> {
  stage: string;
  configHash: string;
  finishedAt: string;
  paths?: typeof RELATIVE_PATHS;
  value: T;
}

export function openJournal(outDir: string, model: string, configHash: string): StageJournal {
  const out = path.resolve(outDir);
  const dir = path.join(out, model, "stages");
  mkdirSync(dir, { recursive: true });
  const fileOf = (stage: string) => path.join(dir, `${stageKey(configHash, stage)}.json`);
  const journal: StageJournal = {
    dir,
    has: (stage) => journal.get(stage) !== undefined,
    get<T>(stage: string): T | undefined {
      const file = fileOf(stage);
      if (!existsSync(file)) return undefined;
      const record = JSON.parse(readFileSync(file, "utf8")) as StageRecord<T>;
      if (record.stage !== stage) return undefined;
      const missing: string[] = [];
      const value = mapStrings(record.value, (s) => {
        const resolved = record.paths === RELATIVE_PATHS ? fromStored(out, s) : fromOldAbsolute(out, model, s);
        if (resolved !== s && !existsSync(resolved)) missing.push(resolved);
        return resolved;
      });
      return missing.length ? undefined : (value as T);
    },
    put<T>(stage: string, value: T): void {
      refuseNonFinite(stage, value);
      const record: StageRecord<unknown> = { stage, configHash, finishedAt: new Date().toISOString(), paths: RELATIVE_PATHS, value: mapStrings(value, (s) => toStored(out, s)) };
      writeJsonAtomic(fileOf(stage), record);
    },
    artifact(stage: string, fileName: string): string {
      const folder = path.join(out, model, "artifacts", stageKey(configHash, stage));
      mkdirSync(folder, { recursive: true });
      return path.join(folder, fileName);
    },
  };
  return journal;
}

/** An absolute path inside the output folder as "$OUT/<relative>"; anything else as it is. */
function toStored(out: string, s: string): string {
  if (!path.isAbsolute(s)) return s;
  const rel = path.relative(out, s);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? OUT_PREFIX + rel.split(path.sep).join("/") : s;
}

function fromStored(out: string, s: string): string {
  return s.startsWith(OUT_PREFIX) ? path.join(out, ...s.slice(OUT_PREFIX.length).split("/")) : s;
}

/**
 * A journal written before paths were relative: an absolute artifact path that no longer
 * exists (the folder moved) is found again by its place under `<model>/artifacts/`.
 */
function fromOldAbsolute(out: string, model: string, s: string): string {
  if (!path.isAbsolute(s) || existsSync(s)) return s;
  const marker = `${path.sep}${model}${path.sep}artifacts${path.sep}`;
  const at = s.lastIndexOf(marker);
  return at < 0 ? s : path.join(out, model, "artifacts", s.slice(at + marker.length));
}

/** A JSON value with every string passed through `f` (object keys left as they are). */
function mapStrings(value: unknown, f: (s: string) => string): unknown {
  if (typeof value === "string") return f(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, f)]));
  return value;
}

/**
 * JSON writes NaN and Infinity as null, so a resumed run would read back values no stage
 * produced (and results that fail their schema): a stage that journals one is a bug, said here.
 */
function refuseNonFinite(stage: string, value: unknown, at = "value"): void {
  if (typeof value === "number" && !Number.isFinite(value)) throw new Error(`journal: stage ${stage}: ${at} is ${value}, which JSON cannot hold`);
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return;
  for (const [key, v] of Object.entries(value)) refuseNonFinite(stage, v, `${at}.${key}`);
}

/** Short, file-name-safe and collision-free: a readable slug plus a hash of config and stage. */
export function stageKey(configHash: string, stage: string): string {
  const slug = stage.replace(/[^\w.-]+/g, "_").slice(0, 60);
  const digest = createHash("sha256").update(`${configHash}\0${stage}`).digest("hex").slice(0, 12);
  return `${slug}-${digest}`;
}
