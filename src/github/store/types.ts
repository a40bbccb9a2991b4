/** Results are stored per commit and runner fingerprint: only like is compared with like. */
export interface StoreKey {
  commit: string;
  fingerprint: string;
}

export interface StoredFile {
  /** File name inside the key's folder, e.g. "gpt2.shard-0.json". */
  name: string;
  content: string;
}

export interface ResultsStore {
  /** For logs and reports: "branch prunebench-results", "folder ./results". */
  readonly description: string;
  save(key: StoreKey, files: StoredFile[], message?: string): Promise<void>;
  /** Every file stored under the key; empty when there are none. */
  load(key: StoreKey): Promise<StoredFile[]>;
  /** Fingerprints that have results for a commit (to say why none match). */
  fingerprints(commit: string): Promise<string[]>;
  /** Every commit and fingerprint with results, in no order (the dashboard reads the whole history). */
  keys(): Promise<StoreKey[]>;
}

const SAFE = /^[\w.-]+$/;

/** results/<commit>/<fingerprint>: both parts checked, as they may come from artifacts. */
export function keyFolder(key: StoreKey): string {
  for (const [field, value] of Object.entries(key)) {
    if (!SAFE.test(value) || value === "." || value === "..") throw new Error(`results store: ${field} '${value}' may hold only letters, digits, '.', '_' and '-'`);
  }
  return `results/${key.commit}/${key.fingerprint}`;
}

export function checkFileName(name: string): string {
  if (!SAFE.test(name) || name.startsWith(".")) throw new Error(`results store: file name '${name}' may hold only letters, digits, '.', '_' and '-'`);
  return name;
}

/** A file's path in the store ("results/<commit>/<fingerprint>/<name>.json") as its key and name; null for anything else. */
export function parseKeyPath(file: string): { key: StoreKey; name: string } | null {
  const parts = file.split("/");
  if (parts.length !== 4 || parts[0] !== "results" || !parts[3].endsWith(".json")) return null;
  const [, commit, fingerprint, name] = parts;
  if (![commit, fingerprint, name].every((p) => SAFE.test(p) && !p.startsWith("."))) return null;
  return { key: { commit, fingerprint }, name };
}
