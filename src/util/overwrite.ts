/**
 * The one check every command that writes makes before any work: no output path may be one
 * of its inputs (a model, one of the model's external data files, a mask, a tokenizer, a
 * result file) or another output of the same command. Paths are compared as the file system
 * sees them: links resolved, `./x` and `x` alike, and hard links by device and inode where the
 * file exists. A refusal is a UsageError (exit 2), one line naming the flag and the path.
 */
import { realpathSync, statSync } from "node:fs";
import path from "node:path";
import { UserError, EXIT } from "../errors.ts";
import { readModel } from "../onnx/model.ts";
import { externalDataFiles } from "../onnx/tensor.ts";

export interface InputFile {
  path: string;
  /** What it is, for the refusal: "the input model", "the mask (--mask)". */
  what: string;
}

export interface OutputPath {
  path: string;
  /** The flag that names it ("--out"), or the flag and what is written there. */
  flag: string;
  /** A folder written beneath: no input may lie anywhere inside it. */
  folder?: boolean;
}

/**
 * A model's files: the .onnx and each external data file it names. A model that cannot be read
 * gives its .onnx alone; the command's own read then says what is wrong with it.
 */
export function modelInputs(file: string, what = "the input model"): InputFile[] {
  const files: InputFile[] = [{ path: file, what }];
  try {
    for (const data of externalDataFiles(readModel(file))) files.push({ path: data, what: `${what}'s external data (${path.basename(data)} of ${file})` });
  } catch {
    // Not readable as a model: nothing more to protect than the file itself.
  }
  return files;
}

/** Inputs given as paths that may be absent or references ("bundled/test", "bytes"): the files among them. */
export function fileInputs(entries: Array<[string | undefined, string]>): InputFile[] {
  const out: InputFile[] = [];
  for (const [p, what] of entries) {
    if (p === undefined) continue;
    try {
      if (statSync(p).isFile()) out.push({ path: p, what });
    } catch {
      // Not a file here (a bundled dataset, a folder of one): the command reads it its own way.
    }
  }
  return out;
}

/** Throws a UsageError for the first output that is an input or another output. */
export function refuseOverwrites(inputs: InputFile[], outputs: OutputPath[]): void {
  const ins = inputs.map((i) => ({ ...i, id: identity(i.path), real: canonical(i.path) }));
  const seen: Array<{ flag: string; path: string; id: string }> = [];
  for (const out of outputs) {
    if (out.folder) {
      const root = canonical(out.path);
      const inside = ins.find((i) => isWithin(root, i.real));
      if (inside) refuse(out, `${inside.what} (${inside.path}) lies in this folder, where the command writes`);
      continue;
    }
    const id = identity(out.path);
    const input = ins.find((i) => i.id === id);
    if (input) refuse(out, `this is ${input.what}${samePath(input.path, out.path) ? "" : ` (${input.path})`}; an output must not replace an input`);
    const other = seen.find((o) => o.id === id);
    if (other) refuse(out, `${other.flag} writes here too (${other.path}); give each output its own path`);
    seen.push({ flag: out.flag, path: out.path, id });
  }
}

function refuse(out: OutputPath, why: string): never {
  throw new UserError(`${out.flag} ${out.path}: ${why}`, { exitCode: EXIT.usage, field: out.flag, file: out.path });
}

function samePath(a: string, b: string): boolean {
  return path.resolve(a) === path.resolve(b);
}

/** One key per file: device and inode where it exists (links of any kind), else its real path. */
function identity(p: string): string {
  try {
    const st = statSync(p);
    return `inode:${st.dev}:${st.ino}`;
  } catch {
    return `path:${canonical(p)}`;
  }
}

/** The absolute path with links resolved, as far up as the path exists (the rest as written). */
function canonical(p: string): string {
  let head = path.resolve(p);
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(realpathSync(head), ...rest);
    } catch {
      const parent = path.dirname(head);
      if (parent === head) return path.join(head, ...rest);
      rest.unshift(path.basename(head));
      head = parent;
    }
  }
}

function isWithin(folder: string, file: string): boolean {
  const rel = path.relative(folder, file);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}
