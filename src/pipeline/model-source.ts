import { existsSync, statSync } from "node:fs";
import path from "node:path";
import type { LoadedConfig } from "../config/load.ts";
import { ConfigError } from "../config/load.ts";
import { hubModel } from "../data/hub-model.ts";

export interface ModelFiles {
  model: string;
  tokenizer: string;
}

/**
 * The model and tokenizer a config names: local paths resolve against the config's folder;
 * a hub reference is downloaded once into the cache (with its external data and tokenizer).
 */
export async function resolveModelFiles(loaded: LoadedConfig, cacheDir: string): Promise<ModelFiles> {
  const { model } = loaded.config;
  if (model.hf) {
    const fetched = await hubModel({ repo: model.hf.repo, file: model.hf.file, revision: model.hf.revision, tokenizer: model.hf.tokenizer }, { cacheDir });
    const tokenizer = model.tokenizer ? path.resolve(loaded.dir, model.tokenizer) : fetched.tokenizer;
    if (!tokenizer) throw new ConfigError(loaded.file, [`model.tokenizer: ${model.hf.repo} has no tokenizer.json; name one`]);
    return { model: fetched.model, tokenizer };
  }
  const file = path.resolve(loaded.dir, model.path!);
  if (!existsSync(file)) throw new ConfigError(loaded.file, [`model.path: ${model.path} not found (resolved to ${file})`]);
  if (statSync(file).isDirectory()) throw new ConfigError(loaded.file, [`model.path: ${model.path} is a folder; give the .onnx file in it`]);
  if (!model.tokenizer) throw new ConfigError(loaded.file, ["model.tokenizer: required for a local model (tokenizer.json, vocab.json or vocab.txt)"]);
  const tokenizer = path.resolve(loaded.dir, model.tokenizer);
  if (!existsSync(tokenizer)) throw new ConfigError(loaded.file, [`model.tokenizer: ${model.tokenizer} not found (resolved to ${tokenizer})`]);
  return { model: file, tokenizer };
}
