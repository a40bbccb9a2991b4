import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { analyzeWeights, isCounted, onnxWeightSource } from "../src/analyze/index.ts";
import { mapModel, writeBuiltModel } from "../src/models/index.ts";
import { graphOf, readFloat32, readModel } from "../src/onnx/index.ts";
import { benchMain, peakRssBytes, timed } from "./lib.ts";

/**
 * Analysis of a built pegasus-large (external data in os.tmpdir(), deleted after) against one
 * plain sequential pass over the same weights (readFloat32 + sum). Each measurement runs in its
 * own process so its peak RSS is its own, not the builder's. Goals: analysis within 2x of the
 * plain pass; analysis peak RSS under 1.2x the weights' bytes.
 */
const self = fileURLToPath(import.meta.url);

async function measure(mode: string, file: string): Promise<Record<string, unknown>> {
  const model = readModel(file);
  const map = mapModel(model);
  const params = map.params.filter(isCounted);
  const baseRss = peakRssBytes();
  if (mode === "plain") {
    const byName = new Map(graphOf(model).initializer.map((t) => [t.name, t]));
    const { value: sum, seconds } = await timed(() => {
      let s = 0;
      for (const p of params) {
        const { data } = readFloat32(model, byName.get(p.name)!);
        for (let i = 0; i < data.length; i++) s += data[i];
      }
      return s;
    });
    return { seconds, sum, peakRssBytes: peakRssBytes(), rssBeforeBytes: baseRss };
  }
  const source = onnxWeightSource(model);
  const { value: a, seconds } = await timed(() => analyzeWeights({ params: map.params, source, label: file }));
  source.close();
  return {
    seconds,
    params: a.params.total,
    belowCutoff: a.belowCutoff,
    layers: a.perLayer.length,
    peakRssBytes: peakRssBytes(),
    rssBeforeBytes: baseRss,
  };
}

function child(mode: string, file: string): Record<string, number> {
  const out = spawnSync(process.execPath, ["--import", "tsx", self, "--measure", mode, file], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (out.status !== 0) throw new Error(`${mode} pass failed (exit ${out.status})`);
  return JSON.parse(out.stdout.trim().split("\n").pop()!) as Record<string, number>;
}

export async function run(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-analyze-bench-"));
  try {
    const file = path.join(dir, "model.onnx");
    const build = await timed(() => writeBuiltModel({ family: "encoder-decoder", preset: "pegasus-large", file, externalData: "always" }));
    const dataBytes = statSync(`${file}.data`).size;
    const plain1 = child("plain", file);
    const analysis = child("analyze", file);
    const plain2 = child("plain", file);
    const plainSeconds = Math.min(plain1.seconds, plain2.seconds);
    const analyzedBytes = analysis.params * 4;
    return {
      model: "pegasus-large (built, fp32, external data)",
      buildSeconds: build.seconds,
      dataFileBytes: dataBytes,
      analyzedParams: analysis.params,
      analyzedBytes,
      belowCutoff: analysis.belowCutoff,
      analysisSeconds: analysis.seconds,
      plainPassSeconds: plainSeconds,
      plainPassSecondsEach: [plain1.seconds, plain2.seconds],
      timeRatio: analysis.seconds / plainSeconds,
      timeGoal: "< 2",
      analysisPeakRssBytes: analysis.peakRssBytes,
      plainPassPeakRssBytes: Math.max(plain1.peakRssBytes, plain2.peakRssBytes),
      rssAfterMappingBytes: analysis.rssBeforeBytes,
      rssRatio: analysis.peakRssBytes / analyzedBytes,
      rssGoal: "< 1.2 (of the analysed weights' bytes)",
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const at = process.argv.indexOf("--measure");
if (at >= 0) {
  measure(process.argv[at + 1], process.argv[at + 2]).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
} else {
  benchMain(import.meta.url, run);
}
