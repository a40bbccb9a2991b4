import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import { writeFileAtomic } from "../util/atomic.ts";
import { CorpusError, SPLITS, sha256Hex, type Corpus, type Split } from "./corpus.ts";
import { WIKITEXT2_RAW_SHA256, folderCorpus } from "./folder.ts";
import { hubDownload, type HubOptions } from "./hub.ts";

/** The hub's copy of WikiText-2 raw: Salesforce/wikitext, config wikitext-2-raw-v1, one parquet file per split. */
export const WIKITEXT_REPO = "Salesforce/wikitext";
export const WIKITEXT2_PARQUET: Record<Split, string> = {
  train: "wikitext-2-raw-v1/train-00000-of-00001.parquet",
  valid: "wikitext-2-raw-v1/validation-00000-of-00001.parquet",
  test: "wikitext-2-raw-v1/test-00000-of-00001.parquet",
};

/**
 * The original file's text from the dataset's rows. Hugging Face's wikitext loader made one
 * row per line of wiki.*.raw, keeping the line's "\n", and turned each whitespace-only line
 * (" \n" in the original) into "". Undoing that gives the original file byte for byte; the
 * test split's sha256 then equals the published one, which is checked.
 */
export function rowsToRaw(rows: readonly string[]): string {
  return rows.map((r) => (r === "" ? " \n" : r)).join("");
}

export interface WikitextHubOptions extends HubOptions {
  /** Dataset revision; a commit pins the bytes. */
  revision?: string;
}

/** The cache folder holding wiki.{train,valid,test}.raw and their SHA256SUMS. */
export function wikitext2CacheDir(cacheDir: string): string {
  return path.join(cacheDir, "wikitext-2-raw");
}

/**
 * WikiText-2 raw, all three splits, downloaded once from the hub into the cache and rebuilt
 * as the original wiki.*.raw files. Each file is written atomically and its sha256 recorded
 * (SHA256SUMS), so later runs detect a damaged cache; the test split must match its published hash.
 */
export async function wikitext2FromHub(options: WikitextHubOptions): Promise<Corpus> {
  const dir = wikitext2CacheDir(options.cacheDir);
  const sums = path.join(dir, "SHA256SUMS");
  if (!SPLITS.every((s) => existsSync(path.join(dir, `wiki.${s}.raw`))) || !existsSync(sums)) {
    const lines: string[] = [];
    for (const split of SPLITS) {
      const file = await hubDownload({ repo: WIKITEXT_REPO, file: WIKITEXT2_PARQUET[split], revision: options.revision, kind: "dataset" }, options);
      let rows: Record<string, unknown>[];
      try {
        rows = await parquetReadObjects({ file: await asyncBufferFromFile(file), columns: ["text"] });
      } catch (error) {
        throw new CorpusError(`${file}: not a readable parquet file with a "text" column: ${(error as Error).message}`);
      }
      const text = rowsToRaw(rows.map((r, i) => {
        if (typeof r.text !== "string") throw new CorpusError(`${file}: row ${i} has no text`);
        return r.text;
      }));
      const hash = sha256Hex(text);
      const expected = WIKITEXT2_RAW_SHA256[split];
      if (expected && hash !== expected) {
        throw new CorpusError(`${file}: the ${split} split rebuilt from the hub has sha256 ${hash}, not the original wiki.${split}.raw's ${expected}`);
      }
      writeFileAtomic(path.join(dir, `wiki.${split}.raw`), text);
      lines.push(`${hash}  wiki.${split}.raw`);
    }
    writeFileAtomic(sums, `${lines.join("\n")}\n`);
  }
  if (readFileSync(sums, "utf8").trim().split("\n").length !== SPLITS.length) throw new CorpusError(`${sums}: expected one line per split`);
  return folderCorpus(dir, { name: "wikitext-2-raw", expected: WIKITEXT2_RAW_SHA256 });
}
