import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema, OperatorSetIdProtoSchema, TensorProtoSchema } from "onnx-buf";
import { DataType, ModelProtoSchema, addNode, graphOf, readFloat32, readModel, valueInfoFor, writeModel } from "../src/onnx/index.ts";
import { benchMain, peakRssBytes, type BenchResult } from "./lib.ts";

/**
 * A model past 2 GiB of weights (too big for tests): 8 fp32 matrices of 4096 x 17000
 * (2.23 GB), written with external data, read back tensor by tensor, rewritten (streamed
 * copy), and run in onnxruntime. Each phase runs in its own process so its peak RSS is its own.
 * Output i of the graph is sum(x @ W_i); the read phase computes the same sums in JavaScript.
 */
const ROWS = 4096;
const COLS = 17000;
const COUNT = 8;
const WEIGHT_BYTES = ROWS * COLS * 4 * COUNT;

function weight(i: number): Float32Array {
  const w = new Float32Array(ROWS * COLS);
  for (let r = 0; r < ROWS; r++) {
    const base = r * COLS;
    for (let c = 0; c < COLS; c++) w[base + c] = ((r * 31 + c * 17 + i * 7) % 255) / 255 - 0.5;
  }
  return w;
}

function input(): Float32Array {
  return Float32Array.from({ length: ROWS }, (_, k) => Math.sin(k));
}

function build(file: string): BenchResult {
  const start = performance.now();
  const graph = create(GraphProtoSchema, { name: "big", input: [valueInfoFor("x", { dtype: DataType.FLOAT, shape: [1, ROWS] })] });
  for (let i = 0; i < COUNT; i++) {
    const w = weight(i);
    graph.initializer.push(create(TensorProtoSchema, { name: `w${i}`, dataType: DataType.FLOAT, dims: [BigInt(ROWS), BigInt(COLS)], rawData: new Uint8Array(w.buffer as ArrayBuffer) }));
    const product = addNode(graph, { opType: "MatMul", inputs: ["x", `w${i}`] }).output[0];
    addNode(graph, { opType: "ReduceSum", inputs: [product], outputs: [`s${i}`], attributes: { keepdims: 0 } });
    graph.output.push(valueInfoFor(`s${i}`, { dtype: DataType.FLOAT, shape: [] }));
  }
  const proto = create(ModelProtoSchema, { irVersion: 8n, producerName: "prunebench-bench", opsetImport: [create(OperatorSetIdProtoSchema, { version: 13n })], graph });
  const generated = performance.now();
  // "auto": the weights are past the inline limit, so the writer must choose external data by itself.
  writeModel({ file, dir: path.dirname(file), proto }, file, { externalData: "auto" });
  return { generateSeconds: (generated - start) / 1e3, writeSeconds: (performance.now() - generated) / 1e3, peakRssBytes: peakRssBytes() };
}

function read(file: string): BenchResult {
  const start = performance.now();
  const model = readModel(file);
  const x = input();
  const sums: number[] = [];
  for (const tensor of graphOf(model).initializer) {
    const w = readFloat32(model, tensor).data;
    let total = 0;
    for (let r = 0; r < ROWS; r++) {
      let row = 0;
      const base = r * COLS;
      for (let c = 0; c < COLS; c++) row += w[base + c];
      total += x[r] * row;
    }
    sums.push(total);
  }
  return { seconds: (performance.now() - start) / 1e3, sums, peakRssBytes: peakRssBytes() };
}

function rewrite(file: string, out: string): BenchResult {
  const start = performance.now();
  writeModel(readModel(file), out, { externalData: "always" });
  return { seconds: (performance.now() - start) / 1e3, peakRssBytes: peakRssBytes() };
}

async function runOrt(file: string): Promise<BenchResult> {
  const ort = await import("onnxruntime-node");
  const start = performance.now();
  const session = await ort.InferenceSession.create(file, { logSeverityLevel: 3 });
  const loaded = performance.now();
  const outputs = await session.run({ x: new ort.Tensor("float32", input(), [1, ROWS]) });
  const ran = performance.now();
  const sums = Array.from({ length: COUNT }, (_, i) => Number((outputs[`s${i}`].data as Float32Array)[0]));
  await session.release();
  return { loadSeconds: (loaded - start) / 1e3, runSeconds: (ran - loaded) / 1e3, sums, peakRssBytes: peakRssBytes() };
}

/** Runs one phase in a fresh process and returns its JSON. */
function phase(name: string, ...args: string[]): BenchResult {
  const self = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, ["--import", "tsx", self, "--phase", name, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 20 });
  if (child.status !== 0) throw new Error(`phase ${name} failed with exit ${child.status}`);
  return JSON.parse(child.stdout.trim().split("\n").pop()!) as BenchResult;
}

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-bigio-"));
  try {
    const file = path.join(dir, "big.onnx");
    const copy = path.join(dir, "copy", "big.onnx");
    const built = phase("build", file);
    const dataFileBytes = statSync(`${file}.data`).size;
    const readBack = phase("read", file);
    const rewritten = phase("rewrite", file, copy);
    const onnxruntime = phase("ort", copy);
    const expected = readBack.sums as number[];
    const actual = onnxruntime.sums as number[];
    const maxRelativeError = Math.max(...expected.map((e, i) => Math.abs(actual[i] - e) / Math.max(Math.abs(e), 1)));
    const ratio = (r: BenchResult) => Number(((r.peakRssBytes as number) / WEIGHT_BYTES).toFixed(3));
    return {
      weightBytes: WEIGHT_BYTES,
      dataFileBytes,
      over2GiB: dataFileBytes > 2 ** 31,
      graphFileBytes: statSync(file).size,
      build: { ...built, peakRssOverWeights: ratio(built) },
      read: { seconds: readBack.seconds, peakRssBytes: readBack.peakRssBytes, peakRssOverWeights: ratio(readBack) },
      rewrite: { ...rewritten, peakRssOverWeights: ratio(rewritten) },
      onnxruntime: { loadSeconds: onnxruntime.loadSeconds, runSeconds: onnxruntime.runSeconds, peakRssBytes: onnxruntime.peakRssBytes, peakRssOverWeights: ratio(onnxruntime) },
      outputsMatch: maxRelativeError < 1e-3,
      maxRelativeError,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const at = process.argv.indexOf("--phase");
if (at > 0) {
  const [name, a, b] = process.argv.slice(at + 1);
  const work = name === "build" ? async () => build(a) : name === "read" ? async () => read(a) : name === "rewrite" ? async () => rewrite(a, b) : () => runOrt(a);
  work().then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
} else {
  benchMain(import.meta.url, run);
}
