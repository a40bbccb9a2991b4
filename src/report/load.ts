import { readFileSync } from "node:fs";
import type { z } from "zod";
import { ResultSchema, type Result } from "../results/schema.ts";

/** A result file that cannot be read or does not match the schema; the message names file and field. */
export class ResultFileError extends Error {
  constructor(message: string, readonly file: string) {
    super(message);
    this.name = "ResultFileError";
  }
}

function fieldPath(path: PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === "number" ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), "") || "(root)";
}

export function formatIssues(file: string, error: z.ZodError): string {
  const lines = error.issues.slice(0, 5).map((i) => `${file}: field ${fieldPath(i.path)}: ${i.message}`);
  if (error.issues.length > 5) lines.push(`${file}: and ${error.issues.length - 5} more problems`);
  return lines.join("\n");
}

/** Parses and validates one result (the file may come from an untrusted job). */
export function parseResult(text: string, file: string): Result {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ResultFileError(`${file}: not valid JSON (${(error as Error).message})`, file);
  }
  const parsed = ResultSchema.safeParse(json);
  if (!parsed.success) throw new ResultFileError(formatIssues(file, parsed.error), file);
  return parsed.data;
}

export function readResultFile(file: string): Result {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ResultFileError(`${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, file);
  }
  return parseResult(text, file);
}
