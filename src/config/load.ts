import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import { UserError, formatIssues } from "../errors.ts";
import { ConfigSchema, type Config } from "./schema.ts";

/**
 * A bad config: one line per problem, each "file: field.path: what is wrong". The field is the
 * first problem's path, or none (null) where the file as a whole is the problem (unreadable, not YAML).
 */
export class ConfigError extends UserError {
  constructor(
    file: string,
    readonly issues: string[],
    field: string | null = issues[0]?.split(":")[0] ?? null,
  ) {
    super(issues.map((i) => `${file}: ${i}`).join("\n"), { file, field: field ?? undefined });
  }
}

export interface LoadedConfig {
  file: string;
  /** Folder that relative paths in the config resolve against. */
  dir: string;
  config: Config;
  /** sha256 of the normalized config: the key for stored results and resumption. */
  hash: string;
}

/** Reads and validates a config; every problem is listed with its field path. */
export function loadConfig(file: string): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(file, [`cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`], null);
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file: string): LoadedConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => `YAML: ${e.message.split("\n")[0]}`), null);
  }
  const parsed = ConfigSchema.safeParse(doc.toJS());
  if (!parsed.success) throw new ConfigError(file, formatIssues(parsed.error));
  const config = parsed.data;
  const hash = createHash("sha256").update(JSON.stringify(config)).digest("hex");
  return { file, dir: path.dirname(path.resolve(file)), config, hash };
}

/** The JSON Schema editors use for completion (written to schema/config.schema.json). */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(ConfigSchema, { io: "input", unrepresentable: "any" });
}
