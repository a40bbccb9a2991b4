/**
 * Dense float32 matrix products for SparseGPT's solver, run by onnxruntime (one Gemm node a
 * graph: MLAS on the CPU, multi-threaded; cuBLAS where the session runs on CUDA), because a
 * product in JavaScript runs at about 1 GFLOP/s and MLAS at 30 or more on two cores.
 * Each product shape is one small graph with symbolic dimensions, built once per process.
 */
import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema, type ModelProto } from "onnx-buf";
import type * as ort from "onnxruntime-node";
import { openSession, Tensor } from "../../eval/session.ts";
import { DataType } from "../../onnx/dtype.ts";
import { addNode, modelOf, valueInfoFor } from "../../onnx/emit.ts";

/** Y = alpha * op(A) @ op(B) (+ C when `accumulate`), op transposing where asked. */
export interface GemmSpec {
  transA: boolean;
  transB: boolean;
  alpha: number;
  /** Adds C (beta = 1); without it the graph has no C input. */
  accumulate: boolean;
}

const floatInput = (name: string, shape: string[]) => valueInfoFor(name, { dtype: DataType.FLOAT, shape });

/** The one-node graph of a product; exported so graph-wide checks (op coverage) can see it. */
export function gemmModel(spec: GemmSpec): ModelProto {
  const graph = create(GraphProtoSchema, {
    name: "prunebench_gemm",
    input: [
      floatInput("a", spec.transA ? ["k", "m"] : ["m", "k"]),
      floatInput("b", spec.transB ? ["n", "k"] : ["k", "n"]),
      ...(spec.accumulate ? [floatInput("c", ["m", "n"])] : []),
    ],
    output: [floatInput("y", ["m", "n"])],
  });
  // alpha and beta are FLOAT attributes even when whole numbers.
  const attributes = { transA: spec.transA ? 1 : 0, transB: spec.transB ? 1 : 0, alpha: { float: spec.alpha }, beta: { float: 1 } };
  addNode(graph, { opType: "Gemm", inputs: spec.accumulate ? ["a", "b", "c"] : ["a", "b"], outputs: ["y"], attributes });
  return modelOf(graph, 13);
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

function sessionFor(spec: GemmSpec): Promise<ort.InferenceSession> {
  const key = JSON.stringify(spec);
  let session = sessions.get(key);
  if (!session) {
    session = openSession(gemmModel(spec));
    sessions.set(key, session);
  }
  return session;
}

/** A row-major float32 matrix. */
export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

/**
 * alpha * op(A) @ op(B) (+ C): a new row-major [m, n] array. The inputs are handed to
 * onnxruntime without a copy (views into larger arrays are fine).
 */
export async function gemm(a: Matrix, b: Matrix, options: Partial<GemmSpec> & { c?: Matrix } = {}): Promise<Float32Array> {
  const spec: GemmSpec = { transA: options.transA ?? false, transB: options.transB ?? false, alpha: options.alpha ?? 1, accumulate: options.c !== undefined };
  const [m, k] = spec.transA ? [a.cols, a.rows] : [a.rows, a.cols];
  const [kb, n] = spec.transB ? [b.cols, b.rows] : [b.rows, b.cols];
  if (k !== kb) throw new Error(`gemm: inner dimensions ${k} and ${kb} differ`);
  if (options.c && (options.c.rows !== m || options.c.cols !== n)) throw new Error(`gemm: C is ${options.c.rows}x${options.c.cols}, the product ${m}x${n}`);
  const tensor = (x: Matrix) => new Tensor("float32", x.data.length === x.rows * x.cols ? x.data : x.data.subarray(0, x.rows * x.cols), [x.rows, x.cols]);
  const feeds: Record<string, ort.Tensor> = { a: tensor(a), b: tensor(b), ...(options.c ? { c: tensor(options.c) } : {}) };
  const session = await sessionFor(spec);
  const result = await session.run(feeds);
  return result.y.data as Float32Array;
}
