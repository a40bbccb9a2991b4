import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import path from "node:path";
import os from "node:os";
import * as ort from "onnxruntime-node";
import { readModel, writeModel } from "../src/onnx/index.ts";
import { SHARED_MODELS, sharedModelFiles, skipWithoutShared } from "./helpers/shared-data.ts";
import { feedsFor, outputBytes } from "./helpers/model-feeds.ts";

const OPTIONS: ort.InferenceSession.SessionOptions = { logSeverityLevel: 3, intraOpNumThreads: 1, interOpNumThreads: 1 };

async function run(file: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, Buffer>> {
  const session = await ort.InferenceSession.create(file, OPTIONS);
  try {
    const outputs = await session.run(feeds);
    return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, outputBytes(v)]));
  } finally {
    await session.release();
  }
}

test("every shared model, written back inline and with external data, gives bit-identical outputs", { skip: skipWithoutShared(SHARED_MODELS) }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-roundtrip-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files = sharedModelFiles();
  assert.ok(files.length >= 10, `expected the shared models, found ${files.length}`);
  for (const [i, file] of files.entries()) {
    const model = readModel(file);
    const feeds = feedsFor(model);
    const expected = await run(file, feeds);
    assert.ok(Object.keys(expected).length > 0);
    for (const mode of ["never", "always"] as const) {
      const out = path.join(dir, `${i}-${mode}`, "model.onnx");
      writeModel(model, out, { externalData: mode });
      const actual = await run(out, feeds);
      assert.deepEqual(Object.keys(actual), Object.keys(expected));
      for (const [name, bytes] of Object.entries(expected)) {
        assert.ok(bytes.equals(actual[name]), `${path.relative(SHARED_MODELS, file)} (${mode === "never" ? "inline" : "external data"}): output ${name} differs`);
      }
    }
  }
});
