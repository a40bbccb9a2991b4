import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { readModel } from "../onnx/model.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { isExternal } from "../onnx/tensor.ts";
import { HubError, hubCachePath, hubDownload, type HubOptions } from "./hub.ts";

export interface HubModelRef {
  repo: string;
  /** The .onnx file inside the repository, e.g. "onnx/model.onnx". */
  file: string;
  revision?: string;
  /** tokenizer.json inside the repository; defaults to the one at the root. */
  tokenizer?: string;
}

export interface HubModel {
  /** Local path of the .onnx file; its external data lies beside it, as in the repository. */
  model: string;
  /** Local path of tokenizer.json, when the repository has one. */
  tokenizer?: string;
  /** Every file fetched or found in the cache. */
  files: string[];
}

/** Tokenizer companions read by tokenizers.js-style loaders; absent ones are skipped. */
const TOKENIZER_EXTRAS = ["tokenizer_config.json", "special_tokens_map.json"];

/**
 * A model from the hub, downloaded once into the cache with its external data files (as its
 * initializers name them) and its tokenizer files. External data locations are checked to stay
 * inside the model's folder before anything is fetched for them.
 */
export async function hubModel(ref: HubModelRef, options: HubOptions): Promise<HubModel> {
  const revision = ref.revision ?? "main";
  const base = { repo: ref.repo, revision, kind: "model" as const };
  // What a complete download found (absent optional files included), so a later call makes no request.
  const manifest = `${hubCachePath({ ...base, file: ref.file }, options.cacheDir)}.prunebench.json`;
  if (existsSync(manifest)) {
    const done = JSON.parse(readFileSync(manifest, "utf8")) as HubModel & { tokenizerRef?: string };
    if (done.tokenizerRef === (ref.tokenizer ?? "") && done.files.every((f) => existsSync(f))) return { model: done.model, tokenizer: done.tokenizer, files: done.files };
  }
  const model = await hubDownload({ ...base, file: ref.file }, options);
  const files = [model];
  const folder = path.posix.dirname(ref.file);
  const locations = new Set<string>();
  for (const tensor of readModel(model).proto.graph?.initializer ?? []) {
    if (!isExternal(tensor)) continue;
    const location = tensor.externalData.find((e) => e.key === "location")?.value ?? "";
    const inRepo = path.posix.normalize(path.posix.join(folder, location));
    if (!location || path.posix.isAbsolute(location) || inRepo.startsWith("../") || inRepo === "..") {
      throw new HubError({ ...base, file: ref.file }, undefined, `initializer ${JSON.stringify(tensor.name)} names external data ${JSON.stringify(location)} outside the model's folder`);
    }
    locations.add(inRepo);
  }
  for (const file of locations) files.push(await hubDownload({ ...base, file }, options));
  const tokenizerFile = ref.tokenizer ?? "tokenizer.json";
  let tokenizer: string | undefined;
  try {
    tokenizer = await hubDownload({ ...base, file: tokenizerFile }, options);
    files.push(tokenizer);
  } catch (error) {
    // A repository without tokenizer.json is fine unless the config named one.
    if (!(error instanceof HubError && error.status === 404) || ref.tokenizer) throw error;
  }
  if (tokenizer) {
    const dir = path.posix.dirname(tokenizerFile);
    for (const extra of TOKENIZER_EXTRAS) {
      try {
        files.push(await hubDownload({ ...base, file: dir === "." ? extra : `${dir}/${extra}` }, options));
      } catch (error) {
        if (!(error instanceof HubError && error.status === 404)) throw error;
      }
    }
  }
  writeJsonAtomic(manifest, { model, tokenizer, files, tokenizerRef: ref.tokenizer ?? "" });
  return { model, tokenizer, files };
}
