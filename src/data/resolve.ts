import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { bundledCorpus } from "./bundled.ts";
import { CorpusError, parseSplit, type Corpus, type Split } from "./corpus.ts";
import { WIKITEXT2_RAW_SHA256, folderCorpus } from "./folder.ts";
import type { HubOptions } from "./hub.ts";
import { wikitext2FromHub } from "./wikitext-hub.ts";

export interface ResolveOptions extends Partial<HubOptions> {
  /** Folder refs are relative to the config file's folder. */
  configDir?: string;
  cacheDir: string;
}

export interface ResolvedCorpus {
  corpus: Corpus;
  split: Split;
  /** "bundled/test", "wikitext-2-raw/test", "<folder>/test": names the data in results. */
  label: string;
}

/**
 * A dataset reference as configs write it:
 *   "bundled/<split>"         Moby-Dick, shipped with prunebench (offline)
 *   "wikitext-2-raw/<split>"  WikiText-2 raw, downloaded once from the hub into the cache
 *   "<folder>:<split>"        a folder with wiki.<split>.raw (or <split>.txt); a folder named
 *                             wikitext-2-raw* is checked against the original files' hashes
 */
export async function resolveCorpus(ref: string, options: ResolveOptions): Promise<ResolvedCorpus> {
  const where = `dataset ${JSON.stringify(ref)}`;
  const colon = ref.lastIndexOf(":");
  if (colon > 0 && !/^[a-zA-Z]:[\\/]/.test(ref.slice(colon - 1))) {
    const dir = path.resolve(options.configDir ?? process.cwd(), ref.slice(0, colon));
    const split = parseSplit(ref.slice(colon + 1), where);
    const isWikitext2 = /^wikitext-2-raw/.test(path.basename(dir));
    const corpus = folderCorpus(dir, isWikitext2 ? { name: "wikitext-2-raw", expected: WIKITEXT2_RAW_SHA256 } : {});
    if (!corpus.splits.includes(split)) corpus.split(split);
    return { corpus, split, label: `${corpus.name}/${split}` };
  }
  const slash = ref.indexOf("/");
  const name = slash > 0 ? ref.slice(0, slash) : ref;
  const split = parseSplit(slash > 0 ? ref.slice(slash + 1) : "", where);
  switch (name) {
    case "bundled":
      return { corpus: bundledCorpus(), split, label: `bundled/${split}` };
    case "wikitext-2-raw":
    case "wikitext2":
      return { corpus: await wikitext2FromHub(options), split, label: `wikitext-2-raw/${split}` };
    default:
      throw new CorpusError(`${where}: unknown dataset ${JSON.stringify(name)}; use bundled/<split>, wikitext-2-raw/<split> or <folder>:<split>`);
  }
}

/** Split files looked for in a folder given as a dataset (WikiText-2's names first). */
const SPLIT_FILES = ["wiki.test.raw", "test.txt", "test.raw", "wiki.valid.raw", "valid.txt"];

export interface DatasetText {
  /** The file read, or the corpus label ("wikitext-2-raw/test"): names the data in results. */
  label: string;
  text: string;
}

/**
 * Any dataset reference, read the same way for the command line and for configs: a text file,
 * a folder holding a split file (wiki.test.raw, test.txt, ...), or anything resolveCorpus accepts
 * ("bundled/test", "wikitext-2-raw/test", "<folder>:<split>"). Paths resolve against configDir.
 */
export async function readDataset(ref: string, options: ResolveOptions): Promise<DatasetText> {
  let file = path.resolve(options.configDir ?? process.cwd(), ref);
  if (!existsSync(file)) {
    if (/^[\w.-]+\/\w+$|:\w+$/.test(ref)) {
      const resolved = await resolveCorpus(ref, options);
      return { label: resolved.label, text: resolved.corpus.split(resolved.split) };
    }
    throw new CorpusError(`dataset ${ref}: not found (give a text file, a folder holding ${SPLIT_FILES.join(", ")}, or bundled/<split>, wikitext-2-raw/<split>, <folder>:<split>)`);
  }
  if (statSync(file).isDirectory()) {
    const found = SPLIT_FILES.map((n) => path.join(file, n)).find((p) => existsSync(p));
    if (!found) throw new CorpusError(`dataset ${ref}: the folder holds none of ${SPLIT_FILES.join(", ")}`);
    file = found;
  }
  const text = readFileSync(file, "utf8");
  if (!text.trim()) throw new CorpusError(`dataset ${file}: the file is empty`);
  return { label: file, text };
}
