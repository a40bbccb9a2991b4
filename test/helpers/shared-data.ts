import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** ../shared/data beside the checkout: read, never copied into the project. */
export const SHARED_DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../shared/data");
export const SHARED_MODELS = path.join(SHARED_DATA, "models");
export const SHARED_TOKENIZERS = path.join(SHARED_DATA, "tokenizers");
export const WIKITEXT_RAW = path.join(SHARED_DATA, "wikitext-2-raw");

export const TORCH_EXPORT = {
  gpt2: path.join(SHARED_MODELS, "torch-export/gpt2/model.onnx"),
  bert: path.join(SHARED_MODELS, "torch-export/bert/model.onnx"),
  pegasus: path.join(SHARED_MODELS, "torch-export/pegasus/model.onnx"),
};

/** Reason to skip a test when the shared data is absent, or false to run it. */
export function skipWithoutShared(...paths: string[]): string | false {
  for (const p of paths.length ? paths : [SHARED_DATA]) {
    if (!existsSync(p)) return `shared data not found at ${p}; this test needs ../shared/data (see SOURCES.md there)`;
  }
  return false;
}

export function sharedModelFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".onnx")) out.push(p);
    }
  };
  if (existsSync(SHARED_MODELS)) walk(SHARED_MODELS);
  return out;
}
