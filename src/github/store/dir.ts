import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "../../util/atomic.ts";
import { checkFileName, keyFolder, parseKeyPath, type ResultsStore, type StoreKey, type StoredFile } from "./types.ts";

/** The store in a local folder (the CLI, or a self-hosted runner's persistent disk). */
export class DirStore implements ResultsStore {
  readonly description: string;
  constructor(readonly root: string) {
    this.description = `folder ${root}`;
  }

  async save(key: StoreKey, files: StoredFile[]): Promise<void> {
    const dir = path.join(this.root, keyFolder(key));
    for (const file of files) writeFileAtomic(path.join(dir, checkFileName(file.name)), file.content);
  }

  async load(key: StoreKey): Promise<StoredFile[]> {
    const dir = path.join(this.root, keyFolder(key));
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((name) => name.endsWith(".json") && !name.startsWith("."))
      .sort()
      .map((name) => ({ name, content: readFileSync(path.join(dir, name), "utf8") }));
  }

  async fingerprints(commit: string): Promise<string[]> {
    const dir = path.join(this.root, keyFolder({ commit, fingerprint: "x" }), "..");
    return existsSync(dir) ? readdirSync(dir).sort() : [];
  }

  /** Folders holding at least one result file; anything else under results/ is not the store's. */
  async keys(): Promise<StoreKey[]> {
    const results = path.join(this.root, "results");
    if (!existsSync(results)) return [];
    const keys: StoreKey[] = [];
    for (const commit of readdirSync(results, { withFileTypes: true }).filter((d) => d.isDirectory())) {
      for (const fingerprint of readdirSync(path.join(results, commit.name), { withFileTypes: true }).filter((d) => d.isDirectory())) {
        const files = readdirSync(path.join(results, commit.name, fingerprint.name));
        const found = files.map((name) => parseKeyPath(`results/${commit.name}/${fingerprint.name}/${name}`)).find(Boolean);
        if (found) keys.push(found.key);
      }
    }
    return keys;
  }
}
