import type { LoadedConfig } from "../config/load.ts";
import type { ModelMap } from "../models/types.ts";
import type { Runner } from "../results/schema.ts";
import type { StageJournal } from "./journal.ts";
import type { SequenceLengths } from "./preflight.ts";
import type { Progress } from "./progress.ts";

/** Raised when the user (SIGINT) or a time limit stops a run; finished stages are kept. */
export { RunInterrupted } from "../errors.ts";

/** A cooperative stop flag shared by every stage of a run. */
export interface StopSignal {
  readonly requested: boolean;
  request(): void;
  /** Called when a stop is requested (stages with a worker forward it there). */
  onRequest(listener: () => void): () => void;
}

export function createStopSignal(): StopSignal {
  let requested = false;
  const listeners = new Set<() => void>();
  return {
    get requested() {
      return requested;
    },
    request() {
      if (requested) return;
      requested = true;
      for (const l of listeners) l();
    },
    onRequest(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** Everything the stages of one config's run share. Built once by run.ts. */
export interface RunContext {
  loaded: LoadedConfig;
  /** The model file (local path, or the hub cache's copy). */
  modelFile: string;
  tokenizerFile: string;
  map: ModelMap;
  runner: Runner;
  journal: StageJournal;
  progress: Progress;
  stop: StopSignal;
  cacheDir: string;
  /** Sequence lengths of each stage: the config's, or its defaults cut to the model's positions. */
  seqLen: SequenceLengths;
  /** Folder for derived data files (evaluation text), shared across configs. */
  dataDir: string;
}
