import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, mkdtempSync } from "node:fs";
import path from "node:path";
import os from "node:os";
import { readModel, writeModel, readFloat32, OnnxFormatError } from "../src/onnx/index.ts";
import { SHARED_MODELS, sharedModelFiles } from "./helpers/shared-data.ts";

test("every shared ONNX file re-encodes byte-identically", { skip: !existsSync(SHARED_MODELS) && "../shared/data/models is absent" }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-io-"));
  for (const file of sharedModelFiles()) {
    const model = readModel(file);
    if (model.proto.graph!.initializer.some((t) => t.dataLocation === 1)) continue;
    const out = path.join(dir, "copy.onnx");
    writeModel(model, out, { externalData: "never" });
    assert.ok(readFileSync(file).equals(readFileSync(out)), `${file} changed on re-encode`);
  }
});

test("fp32 initializers are views of the file's bytes, not copies", { skip: !existsSync(SHARED_MODELS) && "../shared/data/models is absent" }, () => {
  const model = readModel(path.join(SHARED_MODELS, "torch-export/gpt2/model.onnx"));
  const wte = model.proto.graph!.initializer.find((t) => t.name === "transformer.wte.weight")!;
  const { data, isView } = readFloat32(model, wte);
  assert.equal(isView, true);
  assert.equal(data.buffer, wte.rawData.buffer);
  assert.equal(data.length, 50257 * 64);
});

test("a missing or empty file gives an OnnxFormatError naming it", () => {
  assert.throws(() => readModel("/nonexistent/model.onnx"), (e: unknown) => e instanceof OnnxFormatError && e.message.includes("/nonexistent/model.onnx"));
});
