/** The shared NaN/Inf check (src/onnx/finite.ts) over every float type, inline and external. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { TensorProtoSchema } from "onnx-buf";
import { DataType, floatToBfloat16, floatToHalf } from "../src/onnx/dtype.ts";
import { checkFiniteWeights, NonFiniteWeightsError, nonFiniteWeights } from "../src/onnx/finite.ts";
import { graphOf, readModel, type OnnxModel } from "../src/onnx/model.ts";
import { writeModel } from "../src/onnx/write.ts";

const MODEL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../demo/models/decoder.onnx");

function bytesOf(array: ArrayBufferView<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** The demo decoder plus one extra initializer of each float type, each with `bad` in it. */
function withExtras(bad: number): OnnxModel {
  const model = readModel(MODEL);
  const n = 3000;
  const f32 = new Float32Array(n).fill(0.5);
  const f64 = new Float64Array(n).fill(0.5);
  const f16 = new Uint16Array(n).fill(floatToHalf(0.5));
  const b16 = new Uint16Array(n).fill(floatToBfloat16(0.5));
  for (const i of [0, 1234, n - 1]) {
    f32[i] = bad;
    f64[i] = bad;
    f16[i] = floatToHalf(bad);
    b16[i] = floatToBfloat16(bad);
  }
  const tensor = (name: string, dataType: DataType, data: ArrayBufferView<ArrayBuffer>) => create(TensorProtoSchema, { name, dims: [BigInt(n)], dataType, rawData: bytesOf(data) });
  graphOf(model).initializer.push(
    tensor("extra.f32", DataType.FLOAT, f32),
    tensor("extra.f64", DataType.DOUBLE, f64),
    tensor("extra.f16", DataType.FLOAT16, f16),
    tensor("extra.bf16", DataType.BFLOAT16, b16),
  );
  return model;
}

test("the demo models are finite, as read from the file (unaligned inline data) and from external data", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-finite-"));
  try {
    const model = readModel(MODEL);
    assert.ok(graphOf(model).initializer.some((t) => t.rawData.byteOffset % 4 !== 0), "some fp32 data sits unaligned in the file");
    checkFiniteWeights(model);
    const external = path.join(dir, "external.onnx");
    writeModel(withExtras(0.25), external, { externalData: "always" });
    assert.deepEqual(nonFiniteWeights(readModel(external)), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("NaN and Inf are counted apart in fp32, fp64, fp16 and bf16, inline and external", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-finite-"));
  try {
    for (const [bad, key] of [[Number.NaN, "nan"], [Number.POSITIVE_INFINITY, "inf"], [Number.NEGATIVE_INFINITY, "inf"]] as const) {
      const inline = withExtras(bad);
      const file = path.join(dir, "m.onnx");
      writeModel(withExtras(bad), file, { externalData: "always" });
      for (const model of [inline, readModel(file)]) {
        const found = nonFiniteWeights(model);
        assert.deepEqual(found.map((t) => t.name), ["extra.f32", "extra.f64", "extra.f16", "extra.bf16"]);
        for (const t of found) assert.deepEqual({ nan: t.nan, inf: t.inf }, { nan: key === "nan" ? 3 : 0, inf: key === "inf" ? 3 : 0 }, `${t.name} with ${bad}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the refusal names the file and the first initializer, then a few more", () => {
  const model = withExtras(Number.NaN);
  const bias = graphOf(model).initializer.find((t) => t.name === "transformer.h.0.attn.c_attn.bias")!;
  const copy = new Uint8Array(bias.rawData);
  new Float32Array(copy.buffer)[3] = Number.POSITIVE_INFINITY;
  new Float32Array(copy.buffer)[4] = Number.NaN;
  bias.rawData = copy;
  assert.throws(
    () => checkFiniteWeights(model),
    (e: unknown) =>
      e instanceof NonFiniteWeightsError &&
      e.field === 'initializer "transformer.h.0.attn.c_attn.bias"' &&
      e.message ===
        `${MODEL}: initializer "transformer.h.0.attn.c_attn.bias": 1 NaN value and 1 Inf value; also "extra.f32": 3 NaN values; also "extra.f64": 3 NaN values; also "extra.f16": 3 NaN values; and 1 more initializer with NaN or Inf (weights must be finite)`,
  );
});
