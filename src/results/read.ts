import { readFileSync } from "node:fs";
import { UserError, formatIssues } from "../errors.ts";
import { RESULT_SCHEMA_VERSION, ResultSchema, type Result } from "./schema.ts";

/**
 * A result file that cannot be read or does not match the schema. One line (it also becomes a
 * report warning when a stored baseline is bad), naming the file and each field at fault.
 */
export class ResultFileError extends UserError {
  constructor(
    file: string,
    readonly issues: string[],
    headline = "not a valid prunebench result",
  ) {
    super(`${file}: ${headline}${issues.length ? `: ${issues.join("; ")}` : ""}`, { file, field: issues[0]?.split(":")[0] });
  }
}

/** At most this many problems are listed per file; the rest are counted. */
const MAX_ISSUES = 5;

/**
 * Parses and validates one result document. Results may come from an untrusted job's
 * artifact, so nothing is used before the schema has passed it.
 */
export function parseResult(text: string, file: string): Result {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ResultFileError(file, [(error as Error).message], "not valid JSON");
  }
  const schema = (json as { schema?: unknown } | null)?.schema;
  if (typeof schema === "number" && schema > RESULT_SCHEMA_VERSION) {
    throw new ResultFileError(file, [], `written by a newer prunebench (result schema ${schema}; this version reads schema ${RESULT_SCHEMA_VERSION}): upgrade prunebench to read it`);
  }
  const parsed = ResultSchema.safeParse(json);
  if (!parsed.success) {
    const issues = formatIssues(parsed.error);
    throw new ResultFileError(file, issues.length > MAX_ISSUES ? [...issues.slice(0, MAX_ISSUES), `(and ${issues.length - MAX_ISSUES} more problems)`] : issues);
  }
  return parsed.data;
}

export function readResultFile(file: string): Result {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ResultFileError(file, [], `cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return parseResult(text, file);
}
