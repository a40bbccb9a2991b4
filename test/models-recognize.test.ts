import { describe, it } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { readModel } from "../src/onnx/index.ts";
import { OnnxFormatError } from "../src/onnx/errors.ts";
import { buildModel, mapModel, type ModelMap, type ParamInfo } from "../src/models/index.ts";
import { SHARED_MODELS, TORCH_EXPORT, sharedModelFiles, skipWithoutShared } from "./helpers/shared-data.ts";

interface Expected {
  part: string;
  layer: number | null;
  block: string;
  role: string;
}

/**
 * What a Hugging Face parameter name says about a weight. The recogniser never reads weight
 * names; the test uses them (and, for the nameless `onnx::MatMul_NNN` weights, the names of
 * their biases) as the answer key.
 */
function fromHfName(name: string): Expected | undefined {
  const kind = name.endsWith(".bias") ? "bias" : "weight";
  const stem = name.replace(/\.(weight|bias)$/, "");
  const norm = (part: string, layer: number | null, block = "norm") => ({ part, layer, block, role: kind === "weight" ? "norm_scale" : "norm_bias" });
  const lin = (part: string, layer: number | null, block: string, role: string) => ({ part, layer, block, role: kind === "bias" ? "bias" : role });
  let m = /^transformer\.h\.(\d+)\.(.+)$/.exec(stem);
  if (m) {
    const layer = Number(m[1]);
    const sub = m[2];
    if (sub.startsWith("ln_")) return norm("decoder", layer);
    const roles: Record<string, [string, string]> = { "attn.c_attn": ["attention", "qkv"], "attn.c_proj": ["attention", "o"], "mlp.c_fc": ["mlp", "fc_in"], "mlp.c_proj": ["mlp", "fc_out"] };
    return roles[sub] && lin("decoder", layer, ...roles[sub]);
  }
  if (stem === "transformer.ln_f") return norm("decoder", null);
  if (stem === "transformer.wte") return { part: "decoder", layer: null, block: "embedding", role: "token_embedding" };
  if (stem === "transformer.wpe") return { part: "decoder", layer: null, block: "embedding", role: "position_embedding" };
  m = /^bert\.encoder\.layer\.(\d+)\.(.+)$/.exec(stem);
  if (m) {
    const layer = Number(m[1]);
    if (m[2].endsWith("LayerNorm")) return norm("encoder", layer);
    const roles: Record<string, [string, string]> = {
      "attention.self.query": ["attention", "q"], "attention.self.key": ["attention", "k"], "attention.self.value": ["attention", "v"],
      "attention.output.dense": ["attention", "o"], "intermediate.dense": ["mlp", "fc_in"], "output.dense": ["mlp", "fc_out"],
    };
    return roles[m[2]] && lin("encoder", layer, ...roles[m[2]]);
  }
  if (stem === "bert.embeddings.LayerNorm") return norm("encoder", null, "embedding");
  if (stem === "bert.embeddings.word_embeddings") return { part: "encoder", layer: null, block: "embedding", role: "token_embedding" };
  if (stem === "bert.embeddings.position_embeddings") return { part: "encoder", layer: null, block: "embedding", role: "position_embedding" };
  if (stem === "bert.embeddings.token_type_embeddings") return { part: "encoder", layer: null, block: "embedding", role: "type_embedding" };
  if (stem === "cls.predictions.transform.dense") return lin("encoder", null, "head", "head_transform");
  if (stem === "cls.predictions.transform.LayerNorm") return norm("encoder", null, "head");
  if (name === "cls.predictions.bias") return { part: "encoder", layer: null, block: "head", role: "bias" };
  m = /^model\.(encoder|decoder)\.layers\.(\d+)\.(.+)$/.exec(stem);
  if (m) {
    const [part, layer, sub] = [m[1], Number(m[2]), m[3]];
    if (sub.endsWith("layer_norm")) return norm(part, layer);
    const am = /^(self_attn|encoder_attn)\.(q|k|v|out)_proj$/.exec(sub);
    if (am) return lin(part, layer, am[1] === "self_attn" ? "attention" : "cross-attention", am[2] === "out" ? "o" : am[2]);
    if (sub === "fc1") return lin(part, layer, "mlp", "fc_in");
    if (sub === "fc2") return lin(part, layer, "mlp", "fc_out");
    return undefined;
  }
  m = /^model\.(encoder|decoder)\.layer_norm$/.exec(stem);
  if (m) return norm(m[1], null);
  if (stem === "model.shared") return { part: "shared", layer: null, block: "embedding", role: "token_embedding" };
  if (stem === "model.encoder.embed_positions") return { part: "shared", layer: null, block: "embedding", role: "position_embedding" };
  if (name === "final_logits_bias") return { part: "decoder", layer: null, block: "head", role: "bias" };
  return undefined;
}

function slotOf(p: ParamInfo): Expected {
  return { part: p.part, layer: p.layer, block: p.block, role: p.role };
}

/** Checks every initializer of a torch export against the answer key. */
function checkAgainstNames(map: ModelMap): void {
  const byName = new Map(map.params.map((p) => [p.name, p]));
  for (const p of map.params) {
    if (p.buffer) continue;
    if (p.name.startsWith("onnx::MatMul_")) {
      if (p.duplicateOf) {
        assert.equal(p.role, "lm_head", `${p.name} is the tied LM head`);
        assert.equal(byName.get(p.duplicateOf)?.role, "token_embedding");
        continue;
      }
      assert.ok(p.bias, `${p.name}: its bias is found through MatMul -> Add`);
      const expected = fromHfName(p.bias.replace(/\.bias$/, ".weight"));
      assert.deepEqual(slotOf(p), expected, `${p.name} (bias ${p.bias})`);
      continue;
    }
    assert.deepEqual(slotOf(p), fromHfName(p.name), p.name);
  }
  for (const p of map.params) {
    const matrix = ["q", "k", "v", "qkv", "o", "fc_in", "fc_out"].includes(p.role);
    assert.equal(p.prunable, matrix && !p.duplicateOf, `${p.name}: attention and MLP matrices only are prunable`);
  }
}

function parameterCount(map: ModelMap): number {
  return map.params.filter((p) => !p.buffer && !p.duplicateOf).reduce((sum, p) => sum + p.count, 0);
}

describe("mapModel on the torch exports (plain ops, nameless transposed weights)", { skip: skipWithoutShared(TORCH_EXPORT.gpt2) }, () => {
  for (const [file, family, layers, count] of [
    [TORCH_EXPORT.gpt2, "decoder", { encoder: 0, decoder: 2 }, 3_324_736],
    [path.join(path.dirname(TORCH_EXPORT.gpt2), "model-opset17.onnx"), "decoder", { encoder: 0, decoder: 2 }, 3_324_736],
    [TORCH_EXPORT.bert, "encoder", { encoder: 2, decoder: 0 }, 2_096_634],
    // torch counts the decoder's sinusoidal table (8,192) that the export merged into the encoder's.
    [TORCH_EXPORT.pegasus, "encoder-decoder", { encoder: 2, decoder: 2 }, 3_516_817 - 128 * 64],
  ] as const) {
    it(`${path.relative(SHARED_MODELS, file)}: ${family}, every initializer where its name says`, () => {
      const map = mapModel(readModel(file));
      assert.equal(map.family, family);
      assert.deepEqual(map.layers, layers);
      assert.equal(map.params.length, readModel(file).proto.graph!.initializer.length);
      checkAgainstNames(map);
      assert.equal(parameterCount(map), count);
      assert.equal(map.params.filter((p) => p.duplicateOf).length, 1, "the tied LM head copy is found by its values");
    });
  }

  it("a forced family wins and is noted", () => {
    const map = mapModel(readModel(TORCH_EXPORT.gpt2), { family: "encoder" });
    assert.equal(map.family, "encoder");
    assert.ok(map.params.filter((p) => !p.buffer).every((p) => p.part === "encoder"));
    assert.match(map.notes.join("\n"), /forced to encoder.*looks like decoder/);
  });
});

describe("mapModel on the other shared models", { skip: skipWithoutShared(SHARED_MODELS) }, () => {
  const model = (rel: string) => readModel(path.join(SHARED_MODELS, rel));
  const roles = (map: ModelMap, layer: number) =>
    map.params.filter((p) => p.layer === layer && p.prunable).map((p) => p.role).sort();

  it("gpt2-tiny-random (onnxruntime fused: Attention, EmbedLayerNormalization, SkipLayerNormalization, FastGelu)", () => {
    const map = mapModel(model("gpt2-tiny-random/past.onnx"));
    assert.equal(map.family, "decoder");
    assert.deepEqual(map.layers, { encoder: 0, decoder: 5 });
    for (let l = 0; l < 5; l++) assert.deepEqual(roles(map, l), ["fc_in", "fc_out", "o", "qkv"]);
    const qkv = map.params.find((p) => p.role === "qkv" && p.layer === 3)!;
    assert.equal(qkv.name, "transformer.h.3.attn.c_attn.weight");
    assert.deepEqual(qkv.shape, [32, 96]);
    const head = map.params.find((p) => p.role === "lm_head")!;
    assert.equal(head.duplicateOf, "transformer.wte.weight");
    assert.equal(parameterCount(map), 142_112 - 32 * 1000, "the file's elements less the tied copy");
    assert.match(map.notes.join("\n"), /merged equal initializers/);
  });

  it("llama-tiny-random-fp16 (external data, rotary, gated MLP)", () => {
    const map = mapModel(model("llama-tiny-random-fp16/model.onnx"));
    assert.equal(map.family, "decoder");
    assert.deepEqual(roles(map, 1), ["fc_in", "fc_out", "gate", "k", "o", "q", "v"]);
    assert.equal(map.params.find((p) => p.role === "gate" && p.layer === 0)?.name, "model.layers.0.mlp.gate_proj.MatMul.weight");
    assert.ok(map.params.find((p) => p.name === "cos_cache")?.buffer);
    assert.equal(map.params.find((p) => p.name === "lm_head.MatMul.weight")?.role, "lm_head");
  });

  it("bert-toy-mlm (LM head tied through a Transpose node, pooler, NSP head)", () => {
    const map = mapModel(model("bert-toy-mlm/bert_toy_optimized.onnx"));
    assert.equal(map.family, "encoder");
    assert.equal(map.layers.encoder, 5);
    const by = (n: string) => map.params.find((p) => p.name === n)!;
    assert.equal(by("bert.embeddings.position_embeddings.weight").role, "position_embedding");
    assert.equal(by("bert.embeddings.token_type_embeddings.weight").role, "type_embedding");
    assert.equal(by("bert.pooler.dense.weight").role, "pooler");
    assert.equal(by("bert.encoder.layer.4.output.dense.weight_transposed").role, "fc_out");
    assert.equal(parameterCount(map), 56_414);
  });

  it("bert-tf-qa-tiny (keras2onnx: Tensordot reshapes, batchnorm-style layer norms)", () => {
    const map = mapModel(model("bert-tf-qa-tiny/TFBertForQuestionAnswering.onnx"));
    assert.equal(map.family, "encoder");
    assert.equal(map.layers.encoder, 24);
    for (let l = 0; l < 24; l++) assert.deepEqual(roles(map, l), ["fc_in", "fc_out", "k", "o", "q", "v"]);
    const norms = map.params.filter((p) => p.role === "norm_scale" && p.layer === 23);
    assert.equal(norms.length, 2);
  });

  it("distilbert-tiny-cls and gpt2-tiny-plain-nohead (Gemm projections, no LM head)", () => {
    const distil = mapModel(model("distilbert-tiny-cls/model.onnx"));
    assert.equal(distil.family, "encoder");
    assert.deepEqual(roles(distil, 1), ["fc_in", "fc_out", "k", "o", "q", "v"]);
    const gpt2 = mapModel(model("gpt2-tiny-plain-nohead/gpt2_past.onnx"));
    assert.equal(gpt2.family, "decoder");
    assert.equal(gpt2.layers.decoder, 12);
    assert.deepEqual(roles(gpt2, 11), ["fc_in", "fc_out", "o", "qkv"]);
    assert.ok(gpt2.params.find((p) => p.name === "h.0.attn.bias_resize")?.buffer, "the causal mask is a buffer");
    assert.match(gpt2.notes.join("\n"), /no LM head/);
  });

  it("t5-dummy-beamsearch: a clear error naming the BeamSearch node", () => {
    assert.throws(() => mapModel(model("t5-dummy-beamsearch/dummy_t5.onnx")), (e: unknown) => e instanceof OnnxFormatError && /BeamSearch.*subgraphs "decoder", "encoder"/.test(e.message));
  });

  it("every shared model maps every initializer, or errors clearly", () => {
    for (const file of sharedModelFiles()) {
      const m = readModel(file);
      try {
        const map = mapModel(m);
        assert.equal(new Set(map.params.map((p) => p.name)).size, m.proto.graph!.initializer.length, file);
        assert.ok(map.params.some((p) => p.prunable), file);
      } catch (error) {
        assert.ok(error instanceof OnnxFormatError, `${file}: ${String(error)}`);
      }
    }
  });
});

describe("mapModel on a graph that cannot run", () => {
  it("a cycle is refused when the model is read, naming a node on it", () => {
    const built = buildModel({ family: "decoder", preset: "tiny", sizes: { vocab: 64, layers: 1, dModel: 16, heads: 2, dFF: 32 }, seed: 1 });
    const nodes = built.proto.graph!.node;
    // Feed the last node's output back into the first node that reads a computed value.
    const last = nodes[nodes.length - 1];
    const reader = nodes.find((n) => n.input.some((i) => nodes.some((p) => p !== n && p.output.includes(i))))!;
    const computed = reader.input.findIndex((i) => nodes.some((p) => p !== reader && p.output.includes(i)));
    reader.input[computed] = last.output[0];
    assert.throws(
      () => mapModel(built),
      (e: unknown) => e instanceof OnnxFormatError && /<built decoder tiny>: node .*: is part of a cycle/.test(e.message),
    );
  });
});
