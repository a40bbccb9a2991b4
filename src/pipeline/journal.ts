import { existsSync, readFileSync, mkdirSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import { writeJsonAtomic } from "../util/atomic.ts";

/**
 * Where a run keeps each finished stage. A stage's output is written atomically the moment it
 * finishes, keyed by the config hash and the stage's own id, so a run killed at any point
 * (SIGINT, kill -9, a lost runner) starts again where it stopped and a changed config never
 * reuses stale work.
 */
export interface StageJournal {
  readonly dir: string;
  has(stage: string): boolean;
  get<T>(stage: string): T | undefined;
  put<T>(stage: string, value: T): void;
  /** A file path for a stage's artifact (a pruned model, a mask), under the journal. */
  artifact(stage: string, fileName: string): string;
}

export function openJournal(outDir: string, model: string, configHash: string): StageJournal {
  const dir = path.join(outDir, model, "stages");
  mkdirSync(dir, { recursive: true });
  const fileOf = (stage: string) => path.join(dir, `${stageKey(configHash, stage)}.json`);
  return {
    dir,
    has: (stage) => existsSync(fileOf(stage)),
    get<T>(stage: string): T | undefined {
      const file = fileOf(stage);
      if (!existsSync(file)) return undefined;
      const record = JSON.parse(readFileSync(file, "utf8")) as { stage: string; value: T };
      return record.stage === stage ? record.value : undefined;
    },
    put<T>(stage: string, value: T): void {
      writeJsonAtomic(fileOf(stage), { stage, configHash, finishedAt: new Date().toISOString(), value });
    },
    artifact(stage: string, fileName: string): string {
      const folder = path.join(outDir, model, "artifacts", stageKey(configHash, stage));
      mkdirSync(folder, { recursive: true });
      return path.join(folder, fileName);
    },
  };
}

/** Short, file-name-safe and collision-free: a readable slug plus a hash of config and stage. */
export function stageKey(configHash: string, stage: string): string {
  const slug = stage.replace(/[^\w.-]+/g, "_").slice(0, 60);
  const digest = createHash("sha256").update(`${configHash}\0${stage}`).digest("hex").slice(0, 12);
  return `${slug}-${digest}`;
}
