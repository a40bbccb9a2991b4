/**
 * One error model for everything a user can get wrong (a config, a model file, a dataset, a
 * flag, a result file): a UserError carries its exit code and, where known, the file and the
 * field at fault, and the CLI prints it as one line without a stack. Anything else is a bug
 * and says so. The exit codes are listed in README.md ("Exit codes").
 */
import { ZodError } from "zod";

export const EXIT = {
  ok: 0,
  /** Bad input in a file (config, model, tokenizer, dataset, result file) or a failed step. */
  input: 1,
  /** Bad command line: an unknown flag, a flag value out of range, a missing argument. */
  usage: 2,
  /** `run` finished, but at least one run of a sweep failed (recorded in results and report). */
  runsFailed: 3,
  /** `report --fail-on-regression` found a regression. */
  regression: 4,
  /** Stopped by Ctrl-C (SIGINT); finished stages are kept and the same command resumes. */
  interrupted: 130,
} as const;

export interface UserErrorOptions {
  exitCode?: number;
  /** The file at fault (a config, a model, a result file). */
  file?: string;
  /** The field, tensor, node or flag within it. */
  field?: string;
  cause?: unknown;
}

/** An error in the user's input: printed as its message, one line per problem, no stack. */
export class UserError extends Error {
  readonly exitCode: number;
  readonly file?: string;
  readonly field?: string;

  constructor(message: string, options: UserErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options.exitCode ?? EXIT.input;
    this.file = options.file;
    this.field = options.field;
  }
}

/**
 * Stopped by Ctrl-C (or a stop request) before the work was done: exit 130. Nothing
 * unfinished is recorded (no failed run, no journal entry), so the same command resumes.
 */
export class RunInterrupted extends UserError {
  /** `resumable`: false for work that keeps nothing (a CLI budget search), so the line does not promise a resume. */
  constructor(readonly stage: string, resumable = true) {
    super(resumable ? `interrupted during ${stage}; finished stages are saved, run the same command again to resume` : `interrupted during ${stage}; nothing was written`, { exitCode: EXIT.interrupted });
  }
}

/** Several problems found together (every config is checked before any work starts). */
export class UserErrors extends UserError {
  constructor(readonly errors: UserError[]) {
    super(errors.map((e) => e.message).join("\n"), { exitCode: Math.max(...errors.map((e) => e.exitCode)) });
  }
}

const FS_CODES: Record<string, string> = {
  ENOENT: "no such file or folder",
  EISDIR: "is a folder, expected a file",
  ENOTDIR: "a part of the path is not a folder",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EEXIST: "already exists",
  EMFILE: "too many open files",
  ENAMETOOLONG: "file name too long",
  EFBIG: "file too large",
  EIO: "input/output error",
};

/** A Node file-system error (ENOENT, ENOSPC, ...), which names its path but not as a sentence. */
export function isFileSystemError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === "string" && (error as NodeJS.ErrnoException).code! in FS_CODES;
}

/** A field's path as written in JavaScript: runs[3].latency[0].p50; "(top level)" for the root. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === "number" ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), "") || "(top level)";
}

/** "field.path: message" for each issue of a schema check (the file is the caller's to add). */
export function formatIssues(error: ZodError): string[] {
  return error.issues.flatMap((issue) => innermost(issue, []).map((i) => `${fieldPath(i.path)}: ${i.message}`));
}

type Issue = ZodError["issues"][number];

/**
 * A union (`perplexity: {...} | false`) fails as a whole at its own path; when all but one of
 * its options rejected the value's kind outright, that option's issues are the real ones and
 * name the field within (eval.perplexity.protocol, not eval.perplexity).
 */
function innermost(issue: Issue, prefix: readonly PropertyKey[]): { path: PropertyKey[]; message: string }[] {
  const path = [...prefix, ...issue.path];
  // A misspelt key is named by its own path (prune.sparsty), not its parent's.
  if (issue.code === "unrecognized_keys") return issue.keys.map((key) => ({ path: [...path, key], message: "unknown field" }));
  if (issue.code === "invalid_union") {
    const near = issue.errors.filter((branch) => branch.some((i) => i.path.length > 0));
    if (near.length === 1) return near[0].flatMap((i) => innermost(i, path));
  }
  return [{ path, message: issue.message }];
}

export interface DescribedError {
  /** One line per problem, without the "error: " prefix. */
  lines: string[];
  exitCode: number;
  /** Not a user error: a bug in prunebench, worth its stack. */
  internal: boolean;
}

/** How the CLI shows any thrown value: user errors by their message, the rest on one line too. */
export function describeError(error: unknown): DescribedError {
  if (error instanceof UserError) return { lines: error.message.split("\n").filter(Boolean), exitCode: error.exitCode, internal: false };
  if (isFileSystemError(error)) {
    const what = `${FS_CODES[error.code!]} (${error.code})`;
    const where = error.path ?? (error as { dest?: string }).dest;
    return { lines: [where ? `${where}: ${what}` : `${error.syscall ? `${error.syscall}: ` : ""}${what}`], exitCode: EXIT.input, internal: false };
  }
  if (error instanceof ZodError) return { lines: formatIssues(error), exitCode: EXIT.input, internal: true };
  const message = error instanceof Error ? error.message : String(error);
  return { lines: [message.split("\n")[0] || String(error)], exitCode: EXIT.input, internal: true };
}

/** `--debug` anywhere on the command line, or PRUNEBENCH_DEBUG=1: print stacks. */
export function debugRequested(argv: string[], env: NodeJS.ProcessEnv = process.env): boolean {
  return argv.includes("--debug") || env.PRUNEBENCH_DEBUG === "1";
}
