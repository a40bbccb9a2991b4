import { createHash } from "node:crypto";
import { UserError } from "../errors.ts";

export const SPLITS = ["train", "valid", "test"] as const;
export type Split = (typeof SPLITS)[number];

/** A text corpus with fixed train/valid/test splits, each a single string. */
export interface Corpus {
  /** "bundled", "wikitext-2-raw", or a folder's name. */
  readonly name: string;
  readonly splits: readonly Split[];
  /** The split's text; a CorpusError naming the missing or bad file when it cannot be had. */
  split(split: Split): string;
  /** sha256 (hex) of the split's UTF-8 bytes, so results can record exactly what was measured. */
  sha256(split: Split): string;
}

export class CorpusError extends UserError {}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** "train" | "valid" | "test", accepting the Hugging Face spelling "validation". */
export function parseSplit(text: string, where: string): Split {
  const split = text === "validation" ? "valid" : text;
  if (!(SPLITS as readonly string[]).includes(split)) {
    throw new CorpusError(`${where}: unknown split ${JSON.stringify(text)}; expected train, valid or test`);
  }
  return split as Split;
}

/** A corpus over texts computed on demand, each computed once. */
export function memoCorpus(name: string, splits: readonly Split[], load: (split: Split) => string): Corpus {
  const texts = new Map<Split, string>();
  const hashes = new Map<Split, string>();
  const split = (s: Split): string => {
    if (!splits.includes(s)) throw new CorpusError(`corpus ${name} has no ${s} split (it has ${splits.join(", ")})`);
    let text = texts.get(s);
    if (text === undefined) texts.set(s, (text = load(s)));
    return text;
  };
  return {
    name,
    splits,
    split,
    sha256(s) {
      let hash = hashes.get(s);
      if (hash === undefined) hashes.set(s, (hash = sha256Hex(split(s))));
      return hash;
    },
  };
}
