import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { DataType, OnnxFormatError, decodeModel, graphOf, inferTypes, readFloat32, readIntegers, tensorBytes, topologicalOrder } from "../src/onnx/index.ts";
import { SHARED_MODELS, skipWithoutShared } from "./helpers/shared-data.ts";
import { seededRandom } from "../src/util/random.ts";

/** The small shared models; the llama one keeps its weights in external data beside it. */
/** Mutations per file: fewer for the 3,000-node GPT-2, whose every load costs ~50 ms. */
const PLAN: [string, number][] = [
  ["t5-dummy-beamsearch/dummy_t5.onnx", 600],
  ["llama-tiny-random-fp16/model.onnx", 500],
  ["bert-toy-mlm/bert_toy_optimized.onnx", 450],
  ["distilbert-tiny-cls/model.onnx", 450],
  ["gpt2-tiny-plain-nohead/gpt2_past.onnx", 120],
];
const SMALL = PLAN.map(([f]) => path.join(SHARED_MODELS, f));
const TOTAL = PLAN.reduce((n, [, count]) => n + count, 0);

/** Seeded, so a failure names a reproducible case. */
const random = seededRandom;

function encodeVarint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** Positions of length prefixes: a byte with wire type 2 (a plausible tag) followed by a varint. */
function lengthPrefixes(bytes: Uint8Array, rand: () => number, count: number): number[] {
  const out: number[] = [];
  for (let tries = 0; out.length < count && tries < count * 50; tries++) {
    const i = Math.floor(rand() * (bytes.length - 1));
    if ((bytes[i] & 7) === 2 && bytes[i] >> 3 > 0) out.push(i + 1);
  }
  return out;
}

type Mutation = { kind: string; bytes: Uint8Array };

function mutate(original: Uint8Array, rand: () => number): Mutation {
  const pick = Math.floor(rand() * 4);
  const at = Math.floor(rand() * original.length);
  switch (pick) {
    case 0: {
      const bytes = original.slice();
      const flips = 1 + Math.floor(rand() * 8);
      for (let i = 0; i < flips; i++) bytes[Math.floor(rand() * bytes.length)] ^= 1 << Math.floor(rand() * 8);
      return { kind: `flip ${flips} bits`, bytes };
    }
    case 1:
      return { kind: `truncate at ${at}`, bytes: original.slice(0, at) };
    case 2: {
      const insert = Array.from({ length: 1 + Math.floor(rand() * 16) }, () => Math.floor(rand() * 256));
      const bytes = new Uint8Array(original.length + insert.length);
      bytes.set(original.subarray(0, at));
      bytes.set(insert, at);
      bytes.set(original.subarray(at), at + insert.length);
      return { kind: `insert ${insert.length} bytes at ${at}`, bytes };
    }
    default: {
      const [position] = lengthPrefixes(original, rand, 1);
      if (position === undefined) return { kind: "unchanged", bytes: original.slice() };
      let end = position;
      while (end < original.length && original[end] & 0x80) end++;
      const choices = [0, 1, 0x7f, 0xffff, 2 ** 31, 2 ** 53 - 1, Math.floor(rand() * original.length * 2)];
      const value = choices[Math.floor(rand() * choices.length)];
      const varint = encodeVarint(value);
      const bytes = new Uint8Array(original.length - (end + 1 - position) + varint.length);
      bytes.set(original.subarray(0, position));
      bytes.set(varint, position);
      bytes.set(original.subarray(end + 1), position + varint.length);
      return { kind: `length prefix at ${position} set to ${value}`, bytes };
    }
  }
}

/** What every stage does first with a model: decode it, order its graph, read each tensor, infer types. */
function readEverything(bytes: Uint8Array, file: string): void {
  const model = decodeModel(bytes, file);
  const graph = graphOf(model);
  topologicalOrder(graph, file);
  for (const tensor of graph.initializer) {
    // fp16 conversion cannot fail once the bytes are read, and costs the most: fp32 views only.
    tensorBytes(model, tensor);
    if (tensor.dataType === DataType.FLOAT) readFloat32(model, tensor);
    else if (tensor.dataType === DataType.INT64 || tensor.dataType === DataType.INT32) readIntegers(model, tensor);
  }
  inferTypes(model);
}

test(`fuzz: ${TOTAL} seeded mutations of the small shared models load or fail with OnnxFormatError`, { skip: skipWithoutShared(...SMALL) }, (t) => {
  const outcomes = { loaded: 0, rejected: 0 };
  const messages = new Set<string>();
  let slowest = 0;
  SMALL.forEach((file, f) => {
    const original = new Uint8Array(readFileSync(file));
    readEverything(original, file);
    for (let i = 0; i < PLAN[f][1]; i++) {
      const seed = f * 100_000 + i;
      const { kind, bytes } = mutate(original, random(seed));
      const start = performance.now();
      try {
        readEverything(bytes, file);
        outcomes.loaded++;
      } catch (error) {
        if (!(error instanceof OnnxFormatError)) {
          assert.fail(`${path.basename(file)} seed ${seed} (${kind}): ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
        }
        assert.ok(error.message.startsWith(file), `the error names the file: ${error.message}`);
        messages.add(error.where.replace(/".*"/, '"…"'));
        outcomes.rejected++;
      }
      slowest = Math.max(slowest, performance.now() - start);
    }
  });
  t.diagnostic(`${outcomes.loaded} loaded, ${outcomes.rejected} rejected with OnnxFormatError at ${messages.size} distinct places; slowest ${slowest.toFixed(0)} ms`);
  assert.equal(outcomes.loaded + outcomes.rejected, TOTAL);
  assert.ok(outcomes.rejected > TOTAL * 0.3, `only ${outcomes.rejected} mutations were rejected: the mutations are too gentle`);
  assert.ok(slowest < 2000, `one mutation took ${slowest.toFixed(0)} ms`);
});
