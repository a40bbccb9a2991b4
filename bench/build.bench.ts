import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { mapModel, parameterCount, resolveSizes, writeBuiltModel } from "../src/models/index.ts";
import { graphOf, readModel, tensorBytes } from "../src/onnx/index.ts";
import { benchMain, peakRssBytes, timed } from "./lib.ts";

/**
 * Builds pegasus-large (570,797,056 parameters, fp32, external data) into os.tmpdir(), reads it
 * back (readModel, then every tensor's bytes, one at a time) and maps it. Goal: peak RSS under
 * 1.3x the weights' bytes, i.e. the builder never holds the model twice. Files are deleted after.
 */
export async function run(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "prunebench-bench-build-"));
  try {
    const file = path.join(dir, "model.onnx");
    const options = { family: "encoder-decoder" as const, preset: "pegasus-large" as const, seed: 0 };
    const build = await timed(() => writeBuiltModel({ ...options, file, externalData: "always" }));
    const buildPeak = peakRssBytes();
    const fileBytes = statSync(file).size + (build.value.dataFile ? statSync(build.value.dataFile).size : 0);
    const read = await timed(() => {
      const model = readModel(file);
      let bytes = 0;
      for (const t of graphOf(model).initializer) bytes += tensorBytes(model, t).byteLength;
      return { model, bytes };
    });
    const map = await timed(() => mapModel(read.value.model));
    const peak = peakRssBytes();
    const weights = build.value.weightBytes;
    return {
      preset: options.preset,
      parameters: parameterCount(options.family, resolveSizes(options)),
      weightBytes: weights,
      fileBytes,
      readBytes: read.value.bytes,
      buildSeconds: round(build.seconds),
      readSeconds: round(read.seconds),
      mapSeconds: round(map.seconds),
      mappedLayers: map.value.layers,
      buildPeakRssBytes: buildPeak,
      peakRssBytes: peak,
      peakRssOverWeights: round(peak / weights),
      goal: "peakRssOverWeights < 1.3",
      met: peak / weights < 1.3,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

benchMain(import.meta.url, run);
