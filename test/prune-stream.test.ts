import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { mapModel, writeBuiltModel } from "../src/models/index.ts";
import { forEachChunk } from "../src/onnx/chunks.ts";
import { OnnxFormatError, graphOf, readModel, writeModel } from "../src/onnx/index.ts";
import { NonFiniteWeightsError } from "../src/onnx/finite.ts";
import { materialize } from "../src/onnx/tensor.ts";
import { PruneError, pruneFile, type PruneResult } from "../src/prune/index.ts";
import { KernelArena, MAX_WINDOW } from "../src/prune/stream/kernels.ts";
import { sampledRanges } from "../src/prune/stream/magnitude.ts";
import { seededRandom } from "../src/util/random.ts";
import { KERNELS_WASM, assembleKernels } from "../scripts/build-kernels.ts";

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function workdir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-stream-"));
  dirs.push(dir);
  return dir;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const keyOf = (x: number) => ((f32[0] = x), u32[0] & 0x7fffffff);

/** Weights on a coarse grid (many ties), with 0, -0, Inf, subnormals and large values among them. */
function awkwardWeights(n: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const specials = [0, -0, Infinity, -Infinity, 1e-40, -1e-40, 3e38, -0.5, 0.5];
  return Float32Array.from({ length: n }, () => (random() < 0.05 ? specials[Math.floor(random() * specials.length)] : Math.round((random() * 2 - 1) * 32) / 32));
}

function intoChunk(arena: KernelArena, values: Float32Array): Uint8Array {
  const chunk = arena.chunks[0].subarray(0, values.byteLength);
  chunk.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  return chunk;
}

test("kernels: the |w| digit histograms equal a plain count", () => {
  const arena = new KernelArena({ chunkBytes: 1 << 16, chunks: 1 });
  for (const n of [0, 1, 3, 4, 5, 31, 1000, 4099]) {
    const values = awkwardWeights(n, n + 1);
    const keys = values.map((_, i) => keyOf(values[i]));
    const chunk = intoChunk(arena, values);
    arena.clearHigh();
    arena.countHigh(chunk);
    const expected = new Uint32Array(32768);
    for (let i = 0; i < n; i++) expected[keyOf(values[i]) >>> 16]++;
    assert.deepEqual(arena.high(), expected, `high digit, n=${n}`);
    const first = n ? keyOf(values[0]) >>> 16 : 0;
    for (const [base, width] of [[first, 1], [Math.max(0, first - 4), MAX_WINDOW], [0x7f7c, MAX_WINDOW]]) {
      arena.clearLow();
      arena.countLow(chunk, base, width);
      for (let d = 0; d < width; d++) {
        const low = new Uint32Array(65536);
        for (let i = 0; i < n; i++) if (keyOf(values[i]) >>> 16 === base + d) low[keyOf(values[i]) & 0xffff]++;
        assert.deepEqual(arena.low(d), low, `low digit in bucket ${base + d} of a window [${base}, ${base + width}), n=${n}`);
      }
    }
    assert.ok(keys.length === n);
  }
});

/** The ordered definition: below the threshold pruned, equal pruned while the tie budget lasts. */
function referenceMask(values: Float32Array, threshold: number, ties: number) {
  const out = values.slice();
  const bits = new Uint8Array(Math.ceil(values.length / 8));
  let pruned = 0;
  let keptZeros = 0;
  let maxPruned = 0;
  for (let i = 0; i < values.length; i++) {
    const a = keyOf(values[i]);
    const keep = a > threshold || (a === threshold && ties === 0);
    if (a === threshold && !keep) ties--;
    if (keep) {
      bits[i >>> 3] |= 1 << (i & 7);
      if (a === 0) keptZeros++;
    } else {
      out[i] = 0;
      pruned++;
      maxPruned = Math.max(maxPruned, a);
    }
  }
  return { out, bits, pruned, keptZeros, maxPruned, ties };
}

test("kernels: mask-and-zero equals the ordered reference, chunk after chunk, ties and specials included", () => {
  const arena = new KernelArena({ chunkBytes: 1 << 16, chunks: 1 });
  for (const n of [1, 31, 32, 33, 100, 1000, 4099]) {
    const values = awkwardWeights(n, 7 * n);
    const sorted = Array.from(values, (v) => keyOf(v)).sort((a, b) => a - b);
    for (const q of [0, 0.3, 0.5, 0.9]) {
      const threshold = sorted[Math.floor(q * (n - 1))];
      const equal = sorted.filter((k) => k === threshold).length;
      for (const ties of new Set([0, 1, Math.floor(equal / 2), equal])) {
        const expected = referenceMask(values, threshold, ties);
        const chunk = intoChunk(arena, values);
        // In two chunks, split on a 32-weight boundary, with the tie budget carried across.
        const split = Math.min(n, 64);
        arena.startMasking(ties);
        const bits = new Uint8Array(Math.ceil(n / 8));
        bits.set(arena.mask(chunk.subarray(0, split * 4), threshold), 0);
        if (split < n) bits.set(arena.mask(chunk.subarray(split * 4), threshold), split / 8);
        const where = `n=${n} threshold=${threshold.toString(16)} ties=${ties}`;
        assert.deepEqual(new Float32Array(chunk.buffer, chunk.byteOffset, n), expected.out, where);
        assert.deepEqual(bits, expected.bits, where);
        assert.deepEqual(arena.stats(), { pruned: expected.pruned, keptZeros: expected.keptZeros, maxPrunedKey: expected.maxPruned, ties: expected.ties }, where);
      }
    }
  }
});

test("the committed kernels.wasm is kernels.wat assembled (npm run build:kernels)", async () => {
  assert.deepEqual(new Uint8Array(readFileSync(KERNELS_WASM)), await assembleKernels());
});

/** A small built decoder with odd sizes (tensors that are not whole 32-weight groups), external data. */
async function builtDecoder(dir: string, transform?: (values: Float32Array, name: string) => void, sizes: { dModel: number; dFF: number } = { dModel: 20, dFF: 44 }): Promise<string> {
  const built = path.join(dir, "built", "model.onnx");
  mkdirSync(path.dirname(built), { recursive: true });
  await writeBuiltModel({ family: "decoder", preset: "tiny", sizes: { layers: 2, heads: 4, vocab: 50, positions: 16, ...sizes }, seed: 3, file: built, externalData: "always" });
  if (!transform) return built;
  const model = readModel(built);
  for (const t of graphOf(model).initializer) {
    if (t.dataType !== 1) continue;
    const bytes = materialize(model, t);
    const values = new Float32Array(new Uint8Array(bytes).buffer);
    transform(values, t.name);
    bytes.set(new Uint8Array(values.buffer));
  }
  const file = path.join(dir, "model", "model.onnx");
  writeModel(model, file, { externalData: "always" });
  return file;
}

/** Weights rounded to a 1/128 grid: most of them tie with many others; some become 0 and -0. */
const onGrid = (values: Float32Array) => {
  for (let i = 0; i < values.length; i++) values[i] = Math.round(values[i] * 128) / 128;
};

function comparable(result: PruneResult) {
  const { seconds: _s, cpuSeconds: _c, output: _o, mask: _m, ...rest } = result;
  return rest;
}

async function bothEngines(dir: string, input: string, run: { method: string; sparsity: number; chunk?: number }) {
  const out: Partial<Record<"memory" | "stream", { result: PruneResult; data: Buffer; graph: Buffer; mask: Buffer }>> = {};
  const log: string[] = [];
  for (const engine of ["memory", "stream"] as const) {
    const folder = path.join(dir, `${engine}-${run.method}-${run.sparsity}-${run.chunk ?? 0}`);
    const output = path.join(folder, "pruned.onnx");
    const mask = path.join(folder, "pruned.mask");
    const result = await pruneFile({ input, output, mask, method: run.method, sparsity: run.sparsity, engine, streamChunkBytes: run.chunk, log: (line) => log.push(line) });
    out[engine] = { result, data: readFileSync(`${output}.data`), graph: readFileSync(output), mask: readFileSync(mask) };
  }
  return { memory: out.memory!, stream: out.stream!, log };
}

test("streamed magnitude pruning writes exactly what the in-memory engine writes: model, mask file and counts", async () => {
  const dir = workdir();
  // In the skewed model (wider, so that its MLP matrices are sampled in blocks) the sampled
  // blocks of the MLP matrices are scaled up 1000 times: the guessed bucket misses and the
  // extra pass runs.
  const wide = { dModel: 64, dFF: 160 };
  const targets = mapModel(readModel(await builtDecoder(path.join(dir, "w"), undefined, wide))).params.filter((p) => p.prunable).length;
  const skewed = await builtDecoder(
    path.join(dir, "s"),
    (values) => {
      if (values.length !== wide.dModel * wide.dFF) return;
      for (const { at, length } of sampledRanges(values.length * 4, targets)) for (let i = at / 4; i < (at + length) / 4; i++) values[i] *= 1000;
    },
    wide,
  );
  const models = { grid: await builtDecoder(dir, onGrid), normal: await builtDecoder(path.join(dir, "n")), skewed };
  const missed: string[] = [];
  for (const [kind, input] of Object.entries(models)) {
    for (const method of ["magnitude", "global"]) {
      for (const sparsity of [0, 0.3, 0.5, 0.9]) {
        // 128 and 384-byte chunks are written buffered (not whole 4096-byte blocks); the default
        // 16 MiB chunks with direct I/O where the file system takes it.
        for (const chunk of [128, 384, undefined]) {
          const where = `${kind} ${method} ${sparsity} chunk ${chunk ?? "default"}`;
          const { memory, stream, log } = await bothEngines(dir, input, { method, sparsity, chunk });
          if (log.some((line) => line.includes("guess missed"))) missed.push(where);
          assert.deepEqual(comparable(stream.result), comparable(memory.result), where);
          assert.ok(stream.data.equals(memory.data), `${where}: data files differ`);
          assert.ok(stream.graph.equals(memory.graph), `${where}: model files differ`);
          assert.ok(stream.mask.equals(memory.mask), `${where}: mask files differ`);
          if (sparsity === 0) assert.ok(stream.data.equals(readFileSync(`${input}.data`)), `${where}: sparsity 0 changed the weights`);
        }
      }
    }
  }
  assert.ok(missed.some((w) => w.startsWith("skewed global")), "the skewed model never took the extra pass");
  assert.ok(!missed.some((w) => w.startsWith("normal global")), `the sampled guess missed on the normal model: ${missed.join("; ")}`);
  // The grid model really exercises ties: global 50% has many weights equal to its threshold.
  const { stream } = await bothEngines(dir, models.grid, { method: "global", sparsity: 0.5 });
  assert.equal(stream.result.achievedSparsity, 0.5);
});

test("NaN and Inf in external data are refused before streamed pruning, naming the weight, with no output left behind", async () => {
  const dir = workdir();
  const target = mapModel(readModel(await builtDecoder(path.join(dir, "plain")))).params.find((p) => p.prunable && p.count > 1000)!.name;
  const nan = await builtDecoder(path.join(dir, "nan"), (values, name) => {
    if (name === target) values[777] = NaN;
  });
  const inf = await builtDecoder(path.join(dir, "inf"), (values, name) => {
    if (name === target) [values[0], values[100], values[1001]] = [Infinity, -Infinity, Infinity];
  });
  for (const [input, what] of [[nan, "1 NaN value"], [inf, "3 Inf values"]]) {
    const out = path.join(dir, "out");
    await assert.rejects(
      pruneFile({ input, output: path.join(out, "pruned.onnx"), method: "global", sparsity: 0.5, engine: "stream" }),
      (error: Error) => error instanceof NonFiniteWeightsError && error.message.includes(`initializer ${JSON.stringify(target)}: ${what}`),
    );
    assert.deepEqual(existsSync(out) ? readdirSync(out) : [], [], "a failed run left files in the output folder");
  }
});

test("the streamed engine says why it cannot run; auto falls back to the in-memory engine", async () => {
  const dir = workdir();
  const input = await builtDecoder(dir);
  await assert.rejects(
    pruneFile({ input, output: path.join(dir, "nm", "p.onnx"), method: "nm", options: { pattern: "2:4" }, engine: "stream" }),
    (error: Error) => error instanceof PruneError && /only magnitude pruning/.test(error.message),
  );
  await assert.rejects(
    pruneFile({ input, output: path.join(dir, "inline", "p.onnx"), method: "global", sparsity: 0.5, engine: "stream", externalData: "never" }),
    (error: Error) => error instanceof PruneError && /cannot prune streamed: the output is written inline/.test(error.message),
  );
  // An output whose data file is the input's would swap the input's weights for the pruned ones.
  const shared = path.join(dir, "shared", "model.onnx");
  writeModel(readModel(input), shared, { externalData: "always", location: "pruned.onnx.data" });
  const before = readFileSync(path.join(dir, "shared", "pruned.onnx.data"));
  for (const engine of ["stream", "memory"] as const) {
    await assert.rejects(
      pruneFile({ input: shared, output: path.join(dir, "shared", "pruned.onnx"), method: "global", sparsity: 0.5, engine }),
      (error: Error) => error instanceof PruneError && /is where the input model keeps its weights/.test(error.message),
    );
  }
  assert.ok(readFileSync(path.join(dir, "shared", "pruned.onnx.data")).equals(before));
  const auto = await pruneFile({ input, output: path.join(dir, "auto", "p.onnx"), method: "global", sparsity: 0.5, externalData: "never" });
  assert.equal(auto.achievedSparsity, 0.5);
  assert.ok(auto.seconds.apply !== undefined, "the in-memory engine ran");
});

test("forEachChunk visits in order, stops at the first error, and names a data file that ends early", async () => {
  const dir = workdir();
  const file = path.join(dir, "data.bin");
  writeFileSync(file, Buffer.from(Array.from({ length: 100 }, (_, i) => i)));
  const buffers = [new Uint8Array(16), new Uint8Array(16), new Uint8Array(16)];
  const seen: number[] = [];
  await forEachChunk("m.onnx", [{ name: "a", file, offset: 10, length: 50 }, { name: "b", bytes: new Uint8Array([1, 2, 3]) }], buffers, async ({ source, offset, bytes }) => {
    seen.push(source * 1000 + offset, bytes[0]);
    await new Promise((resolve) => setTimeout(resolve, 5 - offset / 16));
  });
  assert.deepEqual(seen, [0, 10, 16, 26, 32, 42, 48, 58, 1000, 1]);

  const visited: number[] = [];
  await assert.rejects(
    forEachChunk("m.onnx", [{ name: "a", file, offset: 0, length: 100 }], buffers, ({ offset }) => {
      visited.push(offset);
      if (offset === 32) throw new Error("visit failed");
    }),
    /visit failed/,
  );
  assert.deepEqual(visited, [0, 16, 32]);

  await assert.rejects(
    forEachChunk("m.onnx", [{ name: "w", file, offset: 90, length: 20 }], buffers, () => {}),
    (error: Error) => error instanceof OnnxFormatError && /m\.onnx.*"w".*ends early/s.test(error.message),
  );
});
