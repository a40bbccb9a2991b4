import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { CorpusError, SPLITS, memoCorpus, sha256Hex, type Corpus, type Split } from "./corpus.ts";

/**
 * sha256 of the original WikiText-2 raw files (wikitext-2-raw-v1.zip). The test value is the
 * one SOURCES.md of the shared data verifies; train and valid are checked against what was
 * recorded when they were downloaded (hub.ts writes SHA256SUMS beside them).
 */
export const WIKITEXT2_RAW_SHA256: Partial<Record<Split, string>> = {
  test: "173c87a53759e0201f33e0ccf978e510c2042d7f2cb78229d9a50d79b9e7dd08",
};

/** File names tried for a split, in order: WikiText's own, then plain ones. */
export function splitFileNames(split: Split): string[] {
  const names = [`wiki.${split}.raw`, `wiki.${split}.tokens`, `${split}.txt`];
  if (split === "valid") names.push("wiki.validation.raw", "validation.txt");
  return names;
}

export interface FolderCorpusOptions {
  name?: string;
  /** Known sha256 per split; a file whose bytes differ is refused with both hashes named. */
  expected?: Partial<Record<Split, string>>;
}

/** sha256 lines as `sha256sum` writes them: "<hex>  <file name>". */
export function readSha256Sums(dir: string): Map<string, string> {
  const file = path.join(dir, "SHA256SUMS");
  const out = new Map<string, string>();
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line.trim());
    if (m) out.set(m[2], m[1]);
  }
  return out;
}

/**
 * A corpus from a folder holding one text file per split (wiki.test.raw, test.txt, ...).
 * Files are read as bytes and checked against known hashes (given, or a SHA256SUMS file in
 * the folder) before being decoded as UTF-8.
 */
export function folderCorpus(dir: string, options: FolderCorpusOptions = {}): Corpus {
  const abs = path.resolve(dir);
  const files = new Map<Split, string>();
  for (const split of SPLITS) {
    const name = splitFileNames(split).find((n) => existsSync(path.join(abs, n)));
    if (name) files.set(split, path.join(abs, name));
  }
  const sums = readSha256Sums(abs);
  const splits = SPLITS.filter((s) => files.has(s));
  const name = options.name ?? path.basename(abs);
  if (!existsSync(abs)) throw new CorpusError(`corpus folder ${abs} does not exist`);
  const corpus = memoCorpus(name, SPLITS, (split) => {
    const file = files.get(split);
    if (!file) throw new CorpusError(`corpus folder ${abs} has no ${split} split: expected one of ${splitFileNames(split).join(", ")}`);
    const bytes = readFileSync(file);
    const expected = options.expected?.[split] ?? sums.get(path.basename(file));
    if (expected) {
      const actual = sha256Hex(bytes);
      if (actual !== expected) {
        throw new CorpusError(`${file}: sha256 ${actual} is not the expected ${expected}; the file is not the ${name} ${split} split it should be (modified, truncated or a different variant)`);
      }
    }
    const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
    return text;
  });
  return { ...corpus, splits };
}

/** WikiText-2 raw from a local folder of wiki.{train,valid,test}.raw, checked against the original files' hashes. */
export function wikitext2Folder(dir: string): Corpus {
  return folderCorpus(dir, { name: "wikitext-2-raw", expected: WIKITEXT2_RAW_SHA256 });
}
