import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { PruneError, pruneFile, pruneSweep, readMaskFile, chooseTargets, reapplyMasks } from "../src/prune/index.ts";
import { DataType, halfToFloat, readFloat32, readModel, writeModel, type OnnxModel } from "../src/onnx/index.ts";
import { NonFiniteWeightsError } from "../src/onnx/finite.ts";
import { IN, VOCAB, tinyModel, transpose } from "./helpers/prune-model.ts";

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function workdir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-prune-"));
  dirs.push(dir);
  return dir;
}

function writeTiny(dir: string, options: Parameters<typeof tinyModel>[0] = {}) {
  const tiny = tinyModel({ ...options, file: path.join(dir, "tiny.onnx") });
  writeFileSync(path.join(dir, "tiny.onnx"), tiny.bytes);
  return { ...tiny, file: path.join(dir, "tiny.onnx") };
}

async function run(file: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file, { logSeverityLevel: 3, intraOpNumThreads: 1, interOpNumThreads: 1 });
  const x = new ort.Tensor("float32", Float32Array.from({ length: 3 * IN }, (_, i) => Math.sin(i + 1)), [3, IN]);
  const ids = new ort.Tensor("int64", BigInt64Array.from([0n, 5n, 7n]), [3]);
  const out = await session.run({ x, ids });
  await session.release();
  return out.y.data as Float32Array;
}

function weights(model: OnnxModel, name: string): Float32Array {
  return readFloat32(model, model.proto.graph!.initializer.find((t) => t.name === name)!).data;
}

test("each method at 50% writes a model that loads and runs in onnxruntime, with zeros where the mask says", async () => {
  const dir = workdir();
  const tiny = writeTiny(dir);
  const dense = await run(tiny.file);
  const runs: { method: string; options: Record<string, unknown> }[] = [
    { method: "magnitude", options: {} },
    { method: "global", options: {} },
    { method: "random", options: {} },
    { method: "nm", options: { pattern: "2:4" } },
  ];
  for (const { method, options } of runs) {
    const out = path.join(dir, `${method}.onnx`);
    const maskFile = path.join(dir, `${method}.mask`);
    const result = await pruneFile({ input: tiny.file, output: out, mask: maskFile, method, options, sparsity: method === "nm" ? undefined : 0.5, map: tiny.map });
    assert.equal(result.params, 8 * 16 + 12 * 16);
    assert.equal(result.pruned, result.params / 2, method);
    if (method !== "global") for (const m of result.matrices) assert.equal(m.pruned, m.count / 2, `${method} ${m.name}`);
    const y = await run(out);
    assert.equal(y.length, 3 * VOCAB);
    assert.ok(y.every(Number.isFinite));
    assert.notDeepEqual(y, dense, `${method} changed nothing`);
    const pruned = readModel(out);
    const masks = readMaskFile(maskFile);
    for (const name of ["W1", "W2"]) {
      const w = weights(pruned, name);
      const original = tiny.values[name];
      const mask = masks.mask(name)!;
      for (let i = 0; i < w.length; i++) {
        assert.ok(Object.is(w[i], mask.get(i) ? original[i] : 0) || (mask.get(i) && w[i] === original[i]), `${method} ${name}[${i}]`);
      }
    }
    // Everything that is not a target is untouched.
    assert.deepEqual(weights(pruned, "b1"), tiny.values.b1);
    assert.deepEqual(weights(pruned, "T"), tiny.values.T);
    assert.equal(pruned.proto.graph!.node.length, tiny.model.proto.graph!.node.length);
  }
});

test("global magnitude uses one threshold: a smaller-scale matrix loses more", async () => {
  const dir = workdir();
  const tiny = writeTiny(dir);
  const result = await pruneFile({ input: tiny.file, output: path.join(dir, "g.onnx"), method: "global", sparsity: 0.5, map: tiny.map });
  const all = [...tiny.values.W1, ...tiny.values.W2].map(Math.abs).sort((a, b) => a - b);
  assert.equal(result.maxPrunedMagnitude, all[result.pruned - 1]);
  assert.equal(result.pruned, Math.round(0.5 * all.length));
});

test("sparsity 0 gives bit-identical outputs and weights", async () => {
  const dir = workdir();
  const tiny = writeTiny(dir);
  const out = path.join(dir, "zero.onnx");
  const result = await pruneFile({ input: tiny.file, output: out, method: "magnitude", sparsity: 0, map: tiny.map });
  assert.equal(result.pruned, 0);
  assert.deepEqual(await run(out), await run(tiny.file));
  assert.ok(readFileSync(out).equals(readFileSync(tiny.file)));
});

test("a sweep re-reads the original: 0.5 after 0.3 prunes 50% of the dense weights, not of the pruned ones", async () => {
  const dir = workdir();
  const tiny = writeTiny(dir);
  const results = await pruneSweep({
    input: tiny.file,
    map: tiny.map,
    runs: [0.3, 0.5, 0.1].map((s) => ({ method: "random", sparsity: s, output: path.join(dir, `r${s}.onnx`) })),
  });
  assert.deepEqual(
    results.map((r) => r.pruned),
    [0.3, 0.5, 0.1].map((s) => Math.round(s * 320)),
  );
  const w = weights(readModel(path.join(dir, "r0.1.onnx")), "W1");
  const zeros = w.filter((v) => v === 0).length;
  assert.equal(zeros, results[2].matrices[0].zeros);
  // Cumulative pruning would leave at least half of W1 zero.
  assert.ok(zeros <= 13 + tiny.values.W1.filter((v) => v === 0).length, `${zeros} zeros`);
});

test("a tied embedding is pruned once and its transposed copy gets the transposed mask", async () => {
  const dir = workdir();
  const tiny = writeTiny(dir);
  const out = path.join(dir, "tied.onnx");
  const maskFile = path.join(dir, "tied.mask");
  const result = await pruneFile({ input: tiny.file, output: out, mask: maskFile, method: "magnitude", sparsity: 0.5, patterns: { include: ["lm_head"] }, map: tiny.map });
  assert.deepEqual(result.matrices.map((m) => [m.name, m.copies]), [["T", ["TT"]]]);
  assert.equal(result.params, 96);
  const pruned = readModel(out);
  const t = weights(pruned, "T");
  const tt = weights(pruned, "TT");
  assert.deepEqual(tt, transpose(t, VOCAB, 12));
  assert.equal(result.pruned, 48);
  const masks = readMaskFile(maskFile);
  const [mt, mtt] = [masks.mask("T")!, masks.mask("TT")!];
  assert.equal(mt.pruned(), 48);
  for (let r = 0; r < VOCAB; r++) {
    for (let c = 0; c < 12; c++) {
      assert.equal(mtt.get(c * VOCAB + r), mt.get(r * 12 + c));
      assert.equal(tt[c * VOCAB + r], mt.get(r * 12 + c) ? tiny.values.T[r * 12 + c] : 0);
    }
  }
  await run(out);
});

test("external data in, external data out: the pruned model loads from its folder", async () => {
  const dir = workdir();
  const tiny = writeTiny(dir);
  const ext = path.join(dir, "ext.onnx");
  writeModel(readModel(tiny.file), ext, { externalData: "always", sizeThreshold: 0 });
  const out = path.join(dir, "ext-pruned.onnx");
  const result = await pruneFile({ input: ext, output: out, method: "global", sparsity: 0.5, map: tiny.map });
  assert.ok(existsSync(`${out}.data`), "weights stay in external data");
  assert.equal(result.pruned, 160);
  assert.ok((await run(out)).every(Number.isFinite));
  assert.equal(readModel(ext).proto.graph!.initializer[0].dataLocation, 1, "the input is not modified");
});

test("fp16 weights are pruned in fp16: pruned elements zero, the rest bit-identical, and the model runs", async () => {
  const dir = workdir();
  const tiny = writeTiny(dir, { dataType: DataType.FLOAT16 });
  const out = path.join(dir, "half.onnx");
  const result = await pruneFile({ input: tiny.file, output: out, method: "magnitude", sparsity: 0.5, map: tiny.map });
  assert.deepEqual(result.matrices.map((m) => m.dataType), ["FLOAT16", "FLOAT16"]);
  const before = tiny.model.proto.graph!.initializer.find((t) => t.name === "W1")!.rawData;
  const after = readModel(out).proto.graph!.initializer.find((t) => t.name === "W1")!;
  assert.equal(after.dataType, DataType.FLOAT16);
  let zeroed = 0;
  for (let i = 0; i < before.length / 2; i++) {
    const a = after.rawData[2 * i] | (after.rawData[2 * i + 1] << 8);
    const b = before[2 * i] | (before[2 * i + 1] << 8);
    if (a !== b) {
      assert.equal(a, 0);
      zeroed++;
      assert.ok(Math.abs(halfToFloat(b)) <= result.maxPrunedMagnitude!);
    }
  }
  assert.ok(zeroed > 0);
  assert.ok((await run(out)).every(Number.isFinite));
});

test("bad input is refused with a message that names it", async () => {
  const dir = workdir();
  const tiny = writeTiny(dir);
  const base = { input: tiny.file, output: path.join(dir, "bad.onnx"), map: tiny.map };
  const refuse = (options: Partial<Parameters<typeof pruneFile>[0]>, pattern: RegExp) =>
    assert.rejects(pruneFile({ ...base, method: "magnitude", ...options }), (e: unknown) => e instanceof PruneError && pattern.test(e.message));
  await refuse({ sparsity: 1 }, /sparsity 1 is outside \[0, 1\)/);
  await refuse({ sparsity: -0.1 }, /outside \[0, 1\)/);
  await refuse({ sparsity: 0.5, patterns: { include: ["*.nothing.*"] } }, /no float weight matches include \["\*\.nothing\.\*"\]/);
  await refuse({ method: "nm", options: { pattern: "2:4" }, sparsity: 0.3 }, /fix the sparsity at 0.5/);
  await refuse({ method: "nm", options: { pattern: "3:16" } }, /W1: input dimension 8 is not a multiple of M = 16/);
  await refuse({ method: "wanda2", sparsity: 0.5 }, /unknown pruning method "wanda2"/);
  await refuse({ sparsity: 0.5, output: tiny.file }, /is the input model/);
  const nan = tinyModel({ file: path.join(dir, "nan.onnx") });
  const w1 = nan.model.proto.graph!.initializer.find((t) => t.name === "W1")!;
  new DataView(w1.rawData.buffer, w1.rawData.byteOffset).setFloat32(4 * 9, NaN, true);
  const { toBinary } = await import("@bufbuild/protobuf");
  const { ModelProtoSchema } = await import("onnx-buf");
  writeFileSync(path.join(dir, "nan.onnx"), toBinary(ModelProtoSchema, nan.model.proto));
  // Refused by the shared check (src/onnx/finite.ts) as every command refuses NaN, before any pruning.
  await assert.rejects(pruneFile({ ...base, input: path.join(dir, "nan.onnx"), method: "global", sparsity: 0.5 }), (e: unknown) => e instanceof NonFiniteWeightsError && /nan\.onnx: initializer "W1": 1 NaN value/.test(e.message));
});

test("targets: patterns match names, map paths (short and long), roles and blocks; default is prunable", () => {
  const { map } = tinyModel();
  const names = (include?: string[], exclude?: string[]) => chooseTargets(map, { include, exclude }).map((g) => g.info.name);
  assert.deepEqual(names(), ["W1", "W2"]);
  assert.deepEqual(names(["*.mlp.*"]), ["W1", "W2"], "globs choose matrices, not biases");
  assert.deepEqual(names(["*.mlp.*", "bias"]), ["W1", "b1", "W2"], "a 1-D tensor by its exact role");
  assert.deepEqual(names(["b1"]), ["b1"]);
  assert.deepEqual(names(["*.mlp.*"], ["fc_in"]), ["W2"]);
  assert.deepEqual(names(["decoder.0.mlp.fc_out"]), ["W2"]);
  assert.deepEqual(names(["W?"]), ["W1", "W2"]);
  assert.deepEqual(names(["embedding"]), ["T"]);
  assert.deepEqual(names(["TT"]), ["T"], "a copy selects its primary");
});

test("a mask file re-applied to the dense model gives the pruned weights, tied copy included", async () => {
  const dir = workdir();
  const tiny = writeTiny(dir);
  const out = path.join(dir, "p.onnx");
  const maskFile = path.join(dir, "p.mask");
  await pruneFile({ input: tiny.file, output: out, mask: maskFile, method: "random", sparsity: 0.6, patterns: { include: ["W1", "W2", "T"] }, map: tiny.map });
  const dense = readModel(tiny.file);
  const { tensors, zeroed } = reapplyMasks(dense, readMaskFile(maskFile));
  assert.equal(tensors, 4);
  assert.ok(zeroed > 0);
  const pruned = readModel(out);
  for (const name of ["W1", "W2", "T", "TT", "b1"]) assert.deepEqual(weights(dense, name), weights(pruned, name), name);
  const other = tinyModel({ file: path.join(dir, "other.onnx") });
  other.model.proto.graph!.initializer.find((t) => t.name === "W1")!.dims = [16n, 8n];
  assert.throws(() => reapplyMasks(other.model, readMaskFile(maskFile)), /tensor "W1": mask shape \[8, 16\] but .* has \[16, 8\]/);
});
