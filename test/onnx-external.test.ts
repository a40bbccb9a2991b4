import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from "node:fs";
import path from "node:path";
import os from "node:os";
import { create, toBinary } from "@bufbuild/protobuf";
import * as ort from "onnxruntime-node";
import { GraphProtoSchema, OperatorSetIdProtoSchema, StringStringEntryProtoSchema, TensorProtoSchema, type TensorProto } from "onnx-buf";
import {
  DataType,
  ModelProtoSchema,
  OnnxFormatError,
  addNode,
  floatToBfloat16,
  graphOf,
  halfToFloat,
  readFloat32,
  readModel,
  tensorBytes,
  valueInfoFor,
  writeModel,
  type OnnxModel,
} from "../src/onnx/index.ts";
import { SHARED_MODELS, skipWithoutShared } from "./helpers/shared-data.ts";

/** A one-node model: output = Cast(weight, to FLOAT), so onnxruntime reads the weight for us. */
function castModel(weight: TensorProto, dir: string): OnnxModel {
  const graph = create(GraphProtoSchema, { name: "cast", initializer: [weight] });
  addNode(graph, { opType: "Cast", inputs: [weight.name], outputs: ["out"], attributes: { to: DataType.FLOAT } });
  graph.output.push(valueInfoFor("out", { dtype: DataType.FLOAT, shape: weight.dims.map(Number) }));
  const proto = create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: 17n })], graph });
  return { file: path.join(dir, "model.onnx"), dir, proto };
}

async function ortValues(file: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file, { logSeverityLevel: 3 });
  const out = (await session.run({})).out.data as Float32Array;
  await session.release();
  return out;
}

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-ext-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A model with one external fp32 weight of 300 values, written the normal way, then tampered with. */
function externalModel(dir: string): { model: OnnxModel; tensor: TensorProto } {
  const values = Float32Array.from({ length: 300 }, (_, i) => i / 7);
  const weight = create(TensorProtoSchema, { name: "w", dataType: DataType.FLOAT, dims: [300n], rawData: new Uint8Array(values.buffer) });
  writeModel(castModel(weight, dir), path.join(dir, "model.onnx"), { externalData: "always" });
  const model = readModel(path.join(dir, "model.onnx"));
  return { model, tensor: graphOf(model).initializer[0] };
}

function setEntry(tensor: TensorProto, key: string, value: string): void {
  tensor.externalData = [...tensor.externalData.filter((e) => e.key !== key), create(StringStringEntryProtoSchema, { key, value })];
}

function refused(model: OnnxModel, tensor: TensorProto, pattern: RegExp): void {
  assert.throws(
    () => tensorBytes(model, tensor),
    (e: unknown) => e instanceof OnnxFormatError && e.message.startsWith(model.file) && e.message.includes('initializer "w"') && pattern.test(e.message),
  );
}

test("external data written by writeModel is page-aligned and read back by us and by onnxruntime", async (t) => {
  const dir = tmp(t);
  const { model, tensor } = externalModel(dir);
  assert.equal(tensor.externalData.find((e) => e.key === "offset")?.value, "0");
  const ours = readFloat32(model, tensor).data;
  assert.deepEqual(Array.from(ours), Array.from(await ortValues(model.file)));
  assert.equal(ours[7], 1);
});

test("an absolute external data location is refused", (t) => {
  const { model, tensor } = externalModel(tmp(t));
  setEntry(tensor, "location", "/etc/passwd");
  refused(model, tensor, /is absolute/);
});

test("a location climbing out of the model's folder with ../ is refused", (t) => {
  const dir = tmp(t);
  mkdirSync(path.join(dir, "inner"));
  const { model, tensor } = externalModel(path.join(dir, "inner"));
  writeFileSync(path.join(dir, "secret.bin"), Buffer.alloc(4096));
  setEntry(tensor, "location", "../secret.bin");
  refused(model, tensor, /leaves the model's folder/);
});

test("a symbolic link inside the folder that points outside it is refused", (t) => {
  const dir = tmp(t);
  mkdirSync(path.join(dir, "inner"));
  const { model, tensor } = externalModel(path.join(dir, "inner"));
  writeFileSync(path.join(dir, "secret.bin"), Buffer.alloc(4096));
  symlinkSync(path.join(dir, "secret.bin"), path.join(dir, "inner", "link.bin"));
  setEntry(tensor, "location", "link.bin");
  refused(model, tensor, /through a link\) outside/);
});

test("a wrong length, an offset past the end, a missing file and an unknown data type are clear errors", (t) => {
  const { model, tensor } = externalModel(tmp(t));
  setEntry(tensor, "length", "1196");
  refused(model, tensor, /length 1196 does not match 1200 bytes/);
  setEntry(tensor, "length", "1200");
  setEntry(tensor, "offset", "8192");
  refused(model, tensor, /lie past the end of "model\.onnx\.data"/);
  setEntry(tensor, "offset", "-4");
  refused(model, tensor, /"-4" is not a byte count/);
  setEntry(tensor, "offset", "0");
  setEntry(tensor, "location", "absent.data");
  refused(model, tensor, /not found beside the model/);
  setEntry(tensor, "location", "model.onnx.data");
  tensor.dataType = 99;
  refused(model, tensor, /data type unknown\(99\) is not supported/);
  tensor.dataType = DataType.STRING;
  refused(model, tensor, /data type STRING is not supported/);
});

test("a truncated external data file is an error naming the tensor, not a short read", (t) => {
  const dir = tmp(t);
  const { model, tensor } = externalModel(dir);
  writeFileSync(path.join(dir, "model.onnx.data"), Buffer.alloc(100));
  refused(model, tensor, /past the end/);
});

const LLAMA = path.join(SHARED_MODELS, "llama-tiny-random-fp16/model.onnx");

test("fp16 weights of the llama model (external data) read as onnxruntime's Cast reads them", { skip: skipWithoutShared(LLAMA) }, async (t) => {
  const dir = tmp(t);
  const model = readModel(LLAMA);
  const fp16 = graphOf(model).initializer.filter((w) => w.dataType === DataType.FLOAT16 && w.dataLocation === 1);
  assert.ok(fp16.length > 5, "the llama weights are external fp16");
  const weight = fp16.find((w) => w.dims.length === 2)!;
  const ours = readFloat32(model, weight).data;
  const raw = tensorBytes(model, weight);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < ours.length; i += 97) assert.equal(ours[i], halfToFloat(view.getUint16(2 * i, true)));
  const inline = create(TensorProtoSchema, { name: "w", dataType: DataType.FLOAT16, dims: weight.dims, rawData: raw });
  writeModel(castModel(inline, dir), path.join(dir, "model.onnx"), { externalData: "never" });
  assert.deepEqual(Array.from(ours), Array.from(await ortValues(path.join(dir, "model.onnx"))));
});

test("bf16 weights read as onnxruntime's Cast reads them", async (t) => {
  const dir = tmp(t);
  const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
  const bits = Uint16Array.from(values, floatToBfloat16);
  const weight = create(TensorProtoSchema, { name: "w", dataType: DataType.BFLOAT16, dims: [10n, 100n], rawData: new Uint8Array(bits.buffer) });
  writeModel(castModel(weight, dir), path.join(dir, "model.onnx"), { externalData: "always" });
  const model = readModel(path.join(dir, "model.onnx"));
  const ours = readFloat32(model, graphOf(model).initializer[0]).data;
  assert.deepEqual(Array.from(ours), Array.from(await ortValues(model.file)));
  for (let i = 0; i < 1000; i++) assert.ok(Math.abs(ours[i] - values[i]) <= Math.abs(values[i]) / 128 + 1e-30);
});

test("a model loaded from a copied folder still finds its external data", { skip: skipWithoutShared(LLAMA) }, (t) => {
  const dir = tmp(t);
  for (const f of ["model.onnx", "model.onnx.data"]) copyFileSync(path.join(path.dirname(LLAMA), f), path.join(dir, f));
  const model = readModel(path.join(dir, "model.onnx"));
  for (const w of graphOf(model).initializer) tensorBytes(model, w);
  assert.ok(toBinary(ModelProtoSchema, model.proto).length > 0);
});
