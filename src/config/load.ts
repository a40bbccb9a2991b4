import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import { ConfigSchema, type Config } from "./schema.ts";

export class ConfigError extends Error {
  constructor(readonly file: string, readonly issues: string[]) {
    super(`${file}: invalid config\n${issues.map((i) => `  - ${i}`).join("\n")}`);
    this.name = "ConfigError";
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
    throw new ConfigError(file, [`cannot read: ${(error as Error).message}`]);
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file: string): LoadedConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => `YAML: ${e.message.split("\n")[0]}`));
  }
  const parsed = ConfigSchema.safeParse(doc.toJS());
  if (!parsed.success) throw new ConfigError(file, formatIssues(parsed.error));
  const config = parsed.data;
  const hash = createHash("sha256").update(JSON.stringify(config)).digest("hex");
  return { file, dir: path.dirname(path.resolve(file)), config, hash };
}

export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.map(String).join(".") : "(top level)";
    return `${where}: ${issue.message}`;
  });
}

/** The JSON Schema editors use for completion (written to schema/config.schema.json). */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(ConfigSchema, { io: "input", unrepresentable: "any" });
}
