/**
 * Calibration: the statistics of each target matrix's input activations that calibrated
 * methods need, computed INSIDE the graph so only [in] or [in, in] tensors leave onnxruntime.
 * For a MatMul weight W [in, out] read as X @ W, the input X [..., in] is reshaped to
 * [tokens, in] and reduced: ReduceSumSquare over tokens for Wanda's ||X_j||^2, and
 * X^T X for SparseGPT's Hessian. Matrices that read the same X share one reduction.
 */
import type { NodeProto } from "onnx-buf";
import type * as ort from "onnxruntime-node";
import type { Family } from "../../models/types.ts";
import { DataType } from "../../onnx/dtype.ts";
import { defaultOpset, Emitter, isDefaultDomain, valueInfoFor } from "../../onnx/emit.ts";
import { addGraphOutputs, cloneModel, consumers } from "../../onnx/graph.ts";
import { graphOf, type OnnxModel } from "../../onnx/model.ts";
import { createSession } from "../../eval/session.ts";
import { feedBuilder, type FeedBuilder } from "../../eval/feeds.ts";
import { EvalInputError } from "../../eval/protocols.ts";
import { PruneError } from "../errors.ts";
import { seededRandom } from "../../util/random.ts";
import type { PruneTarget } from "../types.ts";

/** What the pipeline (or a caller) passes as PruneContext.calibration. */
export interface CalibrationData {
  /** Token ids of the calibration split. */
  tokens: ArrayLike<number>;
  /** Windows drawn (default 128, as the Wanda and SparseGPT papers). */
  samples: number;
  seqLen: number;
  seed: number;
  family: Family;
  /**
   * Activation statistics already taken on these windows, by model file, kind and activations:
   * a sweep (Wanda at several sparsities, OWL) calibrates once. Methods that read it (denseInputStats)
   * calibrate the model as read from its file; a caller that keeps one object per model (the
   * pipeline does) shares it across runs.
   */
  statsCache?: Map<string, Map<string, InputStats>>;
}

export function asCalibration(value: unknown, method: string): CalibrationData {
  const c = value as Partial<CalibrationData> | undefined;
  if (!c || !c.tokens || !c.samples || !c.seqLen || !c.family) {
    throw new PruneError(`${method} needs calibration data (token ids, samples, seq_len): run it from a config with prune.calibration, or give prunebench prune --calibration <dataset> --tokenizer <file>`);
  }
  return c as CalibrationData;
}

export type StatKind = "sqnorm" | "hessian";

/** Statistics of one activation that one or more targets read. */
export interface InputStats {
  input: string;
  /** Input dimension (rows of an [in, out] weight). */
  size: number;
  /** Sum over calibration tokens of x_j^2 (sqnorm) or of x x^T (hessian, row-major [in, in]). */
  values: Float64Array;
  tokens: number;
}

/**
 * Nodes that compute input[0] @ input[1] with the weight as input[1]: MatMul, Gemm, and
 * onnxruntime's fused Attention (its packed q/k/v projection, as in optimized GPT-2 exports).
 */
function multipliesWeight(node: NodeProto, weight: string): boolean {
  if (node.input[1] !== weight) return false;
  if (isDefaultDomain(node.domain)) return node.opType === "MatMul" || node.opType === "Gemm";
  return node.domain === "com.microsoft" && node.opType === "Attention";
}

/** The activation each target multiplies, so targets can be grouped by shared input. */
export function targetInputs(model: OnnxModel, targets: readonly PruneTarget[]): Map<string, string> {
  const uses = consumers(graphOf(model));
  const out = new Map<string, string>();
  for (const t of targets) {
    const node = (uses.get(t.name) ?? []).find((n) => multipliesWeight(n, t.name));
    if (!node) throw new PruneError(`${t.name}: calibrated pruning needs the weight to be the second input of a MatMul, Gemm or fused Attention`);
    out.set(t.name, node.input[0]);
  }
  return out;
}

/**
 * collectInputStats on the model as read from its file (pruneModel's input), through the
 * calibration's cache when it has one.
 */
export async function denseInputStats(model: OnnxModel, inputs: ReadonlyMap<string, number>, kind: StatKind, calibration: CalibrationData, log: (m: string) => void = () => {}): Promise<Map<string, InputStats>> {
  const key = JSON.stringify([model.file, kind, [...inputs]]);
  const cached = calibration.statsCache?.get(key);
  if (cached) {
    log(`calibration: reusing the statistics of ${inputs.size} activations taken earlier on the same windows`);
    return cached;
  }
  log(`calibration: ${inputs.size} activations on ${calibration.samples} windows of ${calibration.seqLen} tokens`);
  const stats = await collectInputStats(model, inputs, kind, calibration, log);
  calibration.statsCache?.set(key, stats);
  return stats;
}

/**
 * Adds the reductions for each activation to a clone of the model (weights shared) and runs
 * it over the calibration windows, summing in float64.
 */
export async function collectInputStats(model: OnnxModel, inputs: ReadonlyMap<string, number>, kind: StatKind, calibration: CalibrationData, log: (m: string) => void = () => {}): Promise<Map<string, InputStats>> {
  const { model: copy, outputs } = addCalibrationTaps(model, inputs, kind);
  const { session } = await createSession(copy);
  try {
    const stats = new Map<string, InputStats>();
    for (const [input, size] of inputs) stats.set(input, { input, size, values: new Float64Array(kind === "sqnorm" ? size : size * size), tokens: 0 });
    const windows = calibrationWindows(calibration);
    const fetches = [...outputs.values()];
    const feeds = feedsFor(session, calibration.family);
    for (const [i, window] of windows.entries()) {
      const result = await session.run(feeds(window), fetches);
      for (const [input, out] of outputs) {
        const s = stats.get(input)!;
        const data = result[out].data as Float32Array;
        for (let j = 0; j < data.length; j++) s.values[j] += data[j];
        s.tokens += window.length;
      }
      if ((i + 1) % 16 === 0) log(`calibration: ${i + 1}/${windows.length} windows`);
    }
    return stats;
  } finally {
    await session.release();
  }
}

/**
 * A clone of the model (weights shared) with the in-graph reductions of each activation as
 * extra outputs: input name -> output name.
 */
export function addCalibrationTaps(model: OnnxModel, inputs: ReadonlyMap<string, number>, kind: StatKind): { model: OnnxModel; outputs: Map<string, string> } {
  const copy = cloneModel(model);
  const graph = graphOf(copy);
  const e = new Emitter(graph, { prefix: "pb_calib_", opset: defaultOpset(copy.proto) });
  const outputs = new Map<string, string>();
  for (const [input, size] of inputs) {
    // Statistics in fp32 whatever the model computes in (an fp16 export's X^T X would lose
    // precision and overflow); onnxruntime drops the Cast where the activation is fp32 already.
    const flat = e.reshape(e.op("Cast", [input], { to: DataType.FLOAT }), [-1, size]);
    let reduced: string;
    if (kind === "sqnorm") reduced = e.withAxes("ReduceSumSquare", flat, [0], { keepdims: 0 });
    else reduced = e.op("MatMul", [e.transpose(flat, [1, 0]), flat]);
    addGraphOutputs(graph, [valueInfoFor(reduced, { dtype: DataType.FLOAT, shape: kind === "sqnorm" ? [size] : [size, size] })], copy.file);
    outputs.set(input, reduced);
  }
  return { model: copy, outputs };
}

/** Seeded windows of seqLen tokens drawn from the calibration split, as the papers sample C4/WikiText. */
export function calibrationWindows(c: CalibrationData): Int32Array[] {
  const n = c.tokens.length;
  if (n < c.seqLen + 1) throw new PruneError(`calibration: the split has ${n} tokens, fewer than one window of ${c.seqLen}`);
  const next = seededRandom(c.seed);
  return Array.from({ length: c.samples }, () => {
    const start = Math.floor(next() * (n - c.seqLen));
    return Int32Array.from({ length: c.seqLen }, (_, i) => c.tokens[start + i]);
  });
}

/**
 * Plain inference feeds through evaluation's builder (int64 or int32 ids, masks of ones, zero
 * token types, positions, shifted decoder ids, and an empty KV cache for exports with past
 * inputs), so calibration feeds a model exactly as evaluation does.
 */
export function feedsFor(session: ort.InferenceSession, family: Family): (window: Int32Array) => Record<string, ort.Tensor> {
  let build: FeedBuilder;
  try {
    build = feedBuilder(session, family);
  } catch (error) {
    if (error instanceof EvalInputError) throw new PruneError(`calibration: ${error.message}`);
    throw error;
  }
  return (window) => {
    const example =
      family === "encoder-decoder"
        ? { encoderIds: window, inputIds: Int32Array.from([0, ...Array.from(window).slice(0, window.length - 1)]), labels: window }
        : { inputIds: window, labels: window };
    return build([example]);
  };
}
