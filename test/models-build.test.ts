import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, readdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema } from "onnx-buf";
import { graphOf, readFloat32, readModel, type OnnxModel } from "../src/onnx/index.ts";
import {
  buildModel,
  headParameterCount,
  mapModel,
  parameterCount,
  resolveSizes,
  writeBuiltModel,
  type BuildOptions,
  type Family,
} from "../src/models/index.ts";
import { sinusoidal } from "../src/models/build/weights.ts";

const FAMILIES: Family[] = ["decoder", "encoder", "encoder-decoder"];
const tiny = (family: Family, seed = 1): BuildOptions => ({ family, preset: "tiny", sizes: { vocab: 1000 }, seed });

function feeds(family: Family, batch: number, seq: number, decSeq = 3): Record<string, ort.Tensor> {
  const ids = new ort.Tensor("int64", BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt((i * 37 + 5) % 1000)), [batch, seq]);
  const mask = new ort.Tensor("int64", new BigInt64Array(batch * seq).fill(1n), [batch, seq]);
  const out: Record<string, ort.Tensor> = { input_ids: ids, attention_mask: mask };
  if (family === "encoder") out.token_type_ids = new ort.Tensor("int64", new BigInt64Array(batch * seq), [batch, seq]);
  if (family === "encoder-decoder") {
    out.decoder_input_ids = new ort.Tensor("int64", BigInt64Array.from({ length: batch * decSeq }, (_, i) => BigInt((i * 11 + 2) % 1000)), [batch, decSeq]);
  }
  return out;
}

async function session(model: OnnxModel | string): Promise<ort.InferenceSession> {
  const source = typeof model === "string" ? model : toBinary(ModelProtoSchema, model.proto);
  return ort.InferenceSession.create(source as string, { logSeverityLevel: 3 });
}

describe("parameter counts from shapes alone", () => {
  it("equal the study's counts for the three presets", () => {
    assert.equal(parameterCount("decoder", resolveSizes({ family: "decoder", preset: "gpt2" })), 124_439_808);
    assert.equal(parameterCount("encoder", resolveSizes({ family: "encoder", preset: "bert-base" })), 109_482_240);
    assert.equal(parameterCount("encoder-decoder", resolveSizes({ family: "encoder-decoder", preset: "pegasus-large" })), 570_797_056);
  });

  it("rejects sizes that cannot be built", () => {
    assert.throws(() => resolveSizes({ family: "decoder", sizes: { dModel: 60, heads: 7 } }), /multiple of sizes.heads/);
    assert.throws(() => resolveSizes({ family: "decoder", sizes: { layers: 0 } }), /sizes.layers/);
  });
});

describe("built models", () => {
  for (const family of FAMILIES) {
    it(`${family}: runs in onnxruntime with dynamic batch and sequence, logits [batch, seq, vocab]`, async () => {
      const model = buildModel(tiny(family));
      const s = await session(model);
      for (const [batch, seq] of [[1, 4], [3, 9]]) {
        const out = await s.run(feeds(family, batch, seq));
        const expectSeq = family === "encoder-decoder" ? 3 : seq;
        assert.deepEqual(out.logits.dims, [batch, expectSeq, 1000]);
        const data = out.logits.data as Float32Array;
        assert.ok(data.every(Number.isFinite));
        assert.ok(data.some((v) => v !== 0));
      }
      const ops = new Set(graphOf(model).node.map((n) => n.domain || "ai.onnx"));
      assert.deepEqual([...ops], ["ai.onnx"], "standard ONNX ops only");
    });

    it(`${family}: mapModel maps the built model exactly, and counts match the formula`, () => {
      const options = tiny(family);
      const map = mapModel(buildModel(options));
      const sizes = resolveSizes(options);
      assert.equal(map.family, family);
      const layers = family === "encoder" ? { encoder: 2, decoder: 0 } : family === "decoder" ? { encoder: 0, decoder: 2 } : { encoder: 2, decoder: 2 };
      assert.deepEqual(map.layers, layers);
      const counted = map.params.filter((p) => !p.buffer && !p.duplicateOf).reduce((sum, p) => sum + p.count, 0);
      assert.equal(counted, parameterCount(family, sizes) + headParameterCount(family, sizes));
      assert.deepEqual(map.params.filter((p) => p.role === "other" && !p.buffer), [], "every weight has a role");
      assert.equal(map.params.filter((p) => p.duplicateOf).length, 1, "the tied LM head copy");
      // qkv, o, fc_in, fc_out per GPT-2 layer; q, k, v, o, fc_in, fc_out per BERT/Pegasus encoder layer; plus cross q, k, v, o per Pegasus decoder layer.
      const prunable = { decoder: 4 * 2, encoder: 6 * 2, "encoder-decoder": 6 * 2 + 10 * 2 }[family];
      assert.equal(map.params.filter((p) => p.prunable).length, prunable);
      for (const p of map.params.filter((x) => x.role === "bias")) assert.match(p.name, /bias$/, `${p.name} is a bias by name too`);
    });
  }

  it("graphs follow onnx checker rules: SSA names, topological order, outputs produced, every weight used, standard ops", () => {
    const allowed = new Set([
      "Constant", "Shape", "Gather", "Unsqueeze", "Range", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "ReduceMean", "MatMul", "Split",
      "Reshape", "Transpose", "Softmax", "Where", "Cast", "Concat", "Slice", "Tanh", "Erf", "Relu",
    ]);
    for (const family of FAMILIES) {
      const model = buildModel(tiny(family));
      const graph = graphOf(model);
      const defined = new Set([...graph.input.map((i) => i.name), ...graph.initializer.map((t) => t.name)]);
      const used = new Set<string>();
      for (const node of graph.node) {
        assert.ok(allowed.has(node.opType), `${family}: ${node.opType} is not in the autodiff's op list`);
        for (const input of node.input) {
          assert.ok(defined.has(input), `${family}: ${node.name} reads ${input} before it is defined`);
          used.add(input);
        }
        for (const output of node.output) {
          assert.ok(!defined.has(output), `${family}: ${output} is assigned twice`);
          defined.add(output);
        }
      }
      for (const o of graph.output) assert.ok(defined.has(o.name), `${family}: output ${o.name} is produced`);
      for (const t of graph.initializer) assert.ok(used.has(t.name), `${family}: ${t.name} is used`);
      assert.equal(new Set(graph.node.map((n) => n.name)).size, graph.node.length, "node names are unique");
      assert.equal(model.proto.opsetImport[0].version, 14n);
    }
  });

  it("decoder is causal: a later token leaves earlier logits unchanged; encoder is not", async () => {
    for (const family of ["decoder", "encoder"] as const) {
      const s = await session(buildModel(tiny(family)));
      const a = feeds(family, 1, 8);
      const b = feeds(family, 1, 8);
      (b.input_ids.data as BigInt64Array)[7] = 999n;
      const la = (await s.run(a)).logits.data as Float32Array;
      const lb = (await s.run(b)).logits.data as Float32Array;
      const early = (x: Float32Array) => x.slice(0, 7 * 1000);
      const same = early(la).every((v, i) => v === early(lb)[i]);
      assert.equal(same, family === "decoder", family);
    }
  });

  it("the seed decides the weights: same seed same values, another seed different; init has std 0.02", () => {
    const a = buildModel(tiny("decoder", 7));
    const b = buildModel(tiny("decoder", 7));
    const c = buildModel(tiny("decoder", 8));
    const w = (m: OnnxModel) => readFloat32(m, graphOf(m).initializer.find((t) => t.name === "transformer.h.0.mlp.c_fc.weight")!).data;
    assert.deepEqual(w(a), w(b));
    assert.notDeepEqual(w(a), w(c));
    const values = w(a);
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
    assert.ok(Math.abs(std - 0.02) < 0.001, `std ${std}`);
    assert.ok(Math.abs(mean) < 0.001, `mean ${mean}`);
  });

  it("pegasus positions are HF's sinusoidal table (sines first half, cosines second)", () => {
    const t = sinusoidal(4, 6);
    assert.equal(t[0 * 6 + 3], 1, "cos(0) at the start of the second half");
    assert.ok(Math.abs(t[1 * 6 + 0] - Math.sin(1)) < 1e-7);
    assert.ok(Math.abs(t[1 * 6 + 1] - Math.sin(1 / 10000 ** (2 / 6))) < 1e-7);
    assert.ok(Math.abs(t[2 * 6 + 4] - Math.cos(2 / 10000 ** (2 / 6))) < 1e-7);
  });

  it("writeBuiltModel with external data writes aligned data beside the model, same values, loads by path", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "prunebench-build-"));
    try {
      const file = path.join(dir, "model.onnx");
      const options = tiny("encoder-decoder", 3);
      writeBuiltModel({ ...options, file, externalData: "always" });
      assert.deepEqual(readdirSync(dir).sort(), ["model.onnx", "model.onnx.data"]);
      assert.ok(statSync(file).size < 200_000, "weights are not inline");
      const read = readModel(file);
      const inMemory = buildModel(options);
      for (const t of graphOf(inMemory).initializer) {
        if (t.dataType !== 1) continue;
        const other = graphOf(read).initializer.find((x) => x.name === t.name)!;
        assert.deepEqual(readFloat32(read, other).data, readFloat32(inMemory, t).data, t.name);
      }
      const s = await session(file);
      assert.deepEqual((await s.run(feeds("encoder-decoder", 2, 6))).logits.dims, [2, 3, 1000]);
      writeBuiltModel({ ...tiny("decoder"), file: path.join(dir, "inline.onnx") });
      assert.ok(!readdirSync(dir).includes("inline.onnx.data"), "small models stay inline in auto mode");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
