import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import * as ort from "onnxruntime-node";
import {
  DataType,
  ModelProtoSchema,
  evaluateDim,
  formatType,
  graphOf,
  inferTypes,
  readModel,
  tapModel,
  type OnnxModel,
} from "../src/onnx/index.ts";
import { SHARED_MODELS, sharedModelFiles, skipWithoutShared } from "./helpers/shared-data.ts";
import { feedsFor } from "./helpers/model-feeds.ts";

const ORT_TYPES: Record<string, number> = { float32: DataType.FLOAT, int64: DataType.INT64, int32: DataType.INT32, bool: DataType.BOOL, float16: DataType.FLOAT16 };

/** Binds each symbolic input dimension to the size fed for it. */
function bindings(model: OnnxModel, feeds: Record<string, ort.Tensor>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const input of graphOf(model).input) {
    const type = input.type?.value;
    if (type?.case !== "tensorType" || !feeds[input.name]) continue;
    type.value.shape?.dim.forEach((d, i) => {
      if (d.value.case === "dimParam") out[d.value.value] = feeds[input.name].dims[i];
    });
  }
  return out;
}

const files = sharedModelFiles();

test("shared models with only standard ops: every value typed; dtypes and shapes match onnxruntime's tapped outputs", { skip: skipWithoutShared(SHARED_MODELS) }, async () => {
  let checked = 0;
  for (const file of files) {
    const label = path.relative(SHARED_MODELS, file);
    const model = readModel(file);
    const inferred = inferTypes(model);
    if (inferred.unsupported.length > 0) continue;
    const strict = label.startsWith("torch-export/");
    const values = graphOf(model).node.flatMap((n) => n.output).filter((n) => n !== "");
    for (const v of values) assert.ok(inferred.types.get(v)?.shape, `${label}: ${v} has no inferred shape`);
    const tapped = tapModel(model, values, inferred);
    const before = new Set(graphOf(model).output.map((o) => o.name));
    // A set: the PyTorch 1.6 GPT-2 export reuses some output names (not SSA, but onnxruntime loads it).
    const added = [...new Set(values)].filter((v) => !before.has(v));
    assert.equal(graphOf(tapped).output.length, before.size + added.length);
    const session = await ort.InferenceSession.create(toBinary(ModelProtoSchema, tapped.proto), { logSeverityLevel: 3 });
    const feeds = feedsFor(model);
    const outputs = await session.run(feeds);
    await session.release();
    const bound = bindings(model, feeds);
    let symbolic = 0;
    for (const name of added) {
      const type = inferred.types.get(name)!;
      const actual = outputs[name];
      const where = `${label}: ${name}: onnxruntime ${actual.type}[${actual.dims.join(",")}], inferred ${formatType(type)}`;
      assert.equal(ORT_TYPES[actual.type], type.dtype, where);
      assert.equal(type.shape!.length, actual.dims.length, where);
      type.shape!.forEach((d, i) => {
        const n = evaluateDim(d, bound);
        if (strict || !String(d).includes("unk__")) assert.equal(n, actual.dims[i], where);
      });
      if (type.shape!.some((d) => typeof d === "string")) symbolic++;
    }
    if (strict) assert.ok(symbolic > 10, `${label}: sizes fed at run time should stay symbolic`);
    checked++;
  }
  assert.ok(checked >= 7, `checked ${checked} models`);
});

test("ops without a rule (contrib fused ops) leave their outputs untyped instead of failing", { skip: skipWithoutShared(SHARED_MODELS) }, () => {
  const file = files.find((f) => f.includes("gpt2-tiny-random"))!;
  const inferred = inferTypes(readModel(file));
  assert.ok(inferred.unsupported.some((n) => n.opType === "Attention"));
  assert.equal(inferred.types.get("logits"), undefined);
});

test("fixed input sizes give fully numeric shapes", { skip: skipWithoutShared(SHARED_MODELS) }, () => {
  const file = files.find((f) => f.endsWith("torch-export/gpt2/model.onnx"))!;
  const model = readModel(file);
  const fixed = { dtype: DataType.INT64, shape: [1, 7] };
  const inferred = inferTypes(model, { inputs: { input_ids: fixed, attention_mask: fixed } });
  assert.deepEqual(inferred.types.get("logits"), { dtype: DataType.FLOAT, shape: [1, 7, 50257] });
  for (const [name, type] of inferred.types) assert.ok(type.shape?.every((d) => typeof d === "number"), `${name}: ${formatType(type)}`);
});

test("a tap on a value that does not exist names it", { skip: skipWithoutShared(SHARED_MODELS) }, () => {
  const model = readModel(files.find((f) => f.endsWith("torch-export/bert/model.onnx"))!);
  assert.throws(() => tapModel(model, ["no-such-value"]), /value "no-such-value": has no inferred type/);
});
