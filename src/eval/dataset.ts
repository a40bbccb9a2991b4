/**
 * The text of an evaluation split. A reference is a text file, or a folder holding a known
 * split file (wiki.test.raw, test.txt...). Named corpora (downloads, caches) are src/data's
 * concern; this accepts what a local run has.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { EvalInputError } from "./protocols.ts";

const SPLIT_FILES = ["wiki.test.raw", "test.txt", "test.raw", "wiki.valid.raw", "valid.txt"];

export function readDatasetText(ref: string): { file: string; text: string } {
  let file = path.resolve(ref);
  if (!existsSync(file)) throw new EvalInputError(`dataset ${ref}: not found (give a text file or a folder holding ${SPLIT_FILES.join(", ")})`);
  if (statSync(file).isDirectory()) {
    const found = SPLIT_FILES.map((n) => path.join(file, n)).find((p) => existsSync(p));
    if (!found) throw new EvalInputError(`dataset ${ref}: the folder holds none of ${SPLIT_FILES.join(", ")}`);
    file = found;
  }
  const text = readFileSync(file, "utf8");
  if (!text.trim()) throw new EvalInputError(`dataset ${file}: the file is empty`);
  return { file, text };
}
