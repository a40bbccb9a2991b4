import path from "node:path";
import { mapModel } from "../models/index.ts";
import type { ModelMap } from "../models/types.ts";
import { dataTypeName, elementBytes } from "../onnx/dtype.ts";
import { tensorSource } from "../onnx/chunks.ts";
import { encodeFloats, isExternal } from "../onnx/tensor.ts";
import { checkFiniteWeights } from "../onnx/finite.ts";
import { graphOf, readModel, type OnnxModel } from "../onnx/model.ts";
import { writeModel } from "../onnx/write.ts";
import type { Bitmask } from "./bitmask.ts";
import { PruneError } from "./errors.ts";
import { loadTargets, zeroBytes, type LoadedTarget } from "./load.ts";
import { writeMaskFile, type MaskEntry } from "./mask-file.ts";
import { getMaskMethod } from "./registry.ts";
import { PRUNE_RESULT_VERSION, type PrunedMatrix, type PruneResult } from "./result.ts";
import { checkSparsity } from "./rounding.ts";
import { keyToFloat } from "./select.ts";
import { pruneStreamed, streamedTargets, streamingObstacle } from "./stream/magnitude.ts";
import { chooseTargets, type TargetGroup, type TargetPatterns } from "./targets.ts";
import type { PruneMethod } from "./types.ts";

export interface PruneOptions {
  method: string;
  /** Method options (scope, seed, N:M pattern...), validated by the method. */
  options?: Record<string, unknown>;
  /** Required unless the method fixes it (N:M). */
  sparsity?: number;
  patterns?: TargetPatterns;
  seed?: number;
  log?: (message: string) => void;
  calibration?: unknown;
}

export interface PrunedModel {
  /** The result with `output` and `mask` still null. */
  result: PruneResult;
  masks: MaskEntry[];
}

const now = () => performance.now() / 1000;
const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/**
 * Prunes a model in memory: the targets' bytes in `model` are zeroed in place, so writing
 * `model` afterwards writes the pruned model. Call it on a freshly read model: it is not
 * undone, and a second call would prune the pruned weights.
 */
export async function pruneModel(model: OnnxModel, map: ModelMap, options: PruneOptions): Promise<PrunedModel> {
  const start = now();
  const cpuStart = cpuNow();
  const log = options.log ?? (() => {});
  const method = getMaskMethod(options.method);
  const parsed = method.parseOptions(options.options ?? {});
  const sparsity = resolveSparsity(method, parsed, options.sparsity);
  const groups = inFileOrder(model, chooseTargets(map, options.patterns));
  const targets = loadTargets(model, groups);
  const loaded = now();
  const cpuLoaded = cpuNow();
  log(`${method.name}: ${targets.length} tensors, ${targets.reduce((n, t) => n + t.count, 0)} weights, sparsity ${sparsity}`);
  const seed = options.seed ?? 0;
  const masks = await method.selectMasks(targets, { sparsity, options: parsed }, { model, map, seed, log, calibration: options.calibration });
  const selected = now();
  const cpuSelected = cpuNow();
  const matrices: PrunedMatrix[] = [];
  const entries: MaskEntry[] = [];
  let maxPruned: number | null = null;
  for (const t of targets) {
    const mask = masks.get(t.name);
    if (!mask || mask.length !== t.count) {
      throw new Error(`pruning method ${method.name} gave ${mask ? `a ${mask.length}-bit mask` : "no mask"} for ${t.name} (${t.count} weights)`);
    }
    const applied = applyMask(t, mask, method.updatesWeights === true);
    if (applied.maxPruned !== null) maxPruned = Math.max(maxPruned ?? 0, applied.maxPruned);
    matrices.push({
      name: t.name,
      shape: t.shape,
      dataType: dataTypeName(t.tensor.dataType),
      count: t.count,
      pruned: applied.pruned,
      zeros: applied.zeros,
      sparsity: t.count ? applied.zeros / t.count : 0,
      copies: t.copies.map((c) => c.name),
    });
    entries.push({ name: t.name, shape: t.shape, mask, copies: t.copies });
  }
  const applied = now();
  const cpuApplied = cpuNow();
  const result = summarize(model, method, parsed, { seed, sparsity, matrices, maxPruned }, {
    seconds: { load: loaded - start, select: selected - loaded, apply: applied - selected },
    cpuSeconds: { load: cpuLoaded - cpuStart, select: cpuSelected - cpuLoaded, apply: cpuApplied - cpuSelected },
  });
  return { result, masks: entries };
}

/** The run's result from its per-matrix counts (output and mask still null). */
function summarize<O>(
  model: OnnxModel,
  method: PruneMethod<O>,
  parsed: O,
  run: { seed: number; sparsity: number; matrices: PrunedMatrix[]; maxPruned: number | null },
  timing: Pick<PruneResult, "seconds" | "cpuSeconds">,
): PruneResult {
  const { matrices } = run;
  const params = matrices.reduce((n, m) => n + m.count, 0);
  const zeros = matrices.reduce((n, m) => n + m.zeros, 0);
  return {
    schema: PRUNE_RESULT_VERSION,
    model: model.file,
    output: null,
    mask: null,
    method: method.name,
    options: method.describeOptions?.(parsed) ?? {},
    scope: method.scope,
    seed: run.seed,
    sparsity: run.sparsity,
    achievedSparsity: params ? zeros / params : 0,
    params,
    pruned: matrices.reduce((n, m) => n + m.pruned, 0),
    zeros,
    maxPrunedMagnitude: run.maxPruned,
    matrices,
    ...timing,
    warnings: [],
  };
}

/**
 * Targets in initializer order: ties at a threshold are pruned in this order, the order the
 * streamed engine meets them in the data file, so both engines prune the same weights.
 */
function inFileOrder(model: OnnxModel, groups: TargetGroup[]): TargetGroup[] {
  const position = new Map(graphOf(model).initializer.map((t, i) => [t.name, i]));
  return groups.sort((a, b) => (position.get(a.info.name) ?? 0) - (position.get(b.info.name) ?? 0));
}

function resolveSparsity(method: PruneMethod<unknown>, parsed: unknown, requested: number | undefined): number {
  const implied = method.impliedSparsity?.(parsed) ?? null;
  if (implied !== null) {
    if (requested !== undefined && Math.abs(requested - implied) > 1e-9) {
      throw new PruneError(`${method.name}: its options fix the sparsity at ${implied}; sparsity ${requested} was asked for (leave it out)`);
    }
    return implied;
  }
  if (requested === undefined) throw new PruneError(`${method.name}: no sparsity given`);
  checkSparsity(requested);
  return requested;
}

/**
 * Zeroes the pruned weights and counts in one pass. fp32 targets are views of the output
 * bytes; other types get only their pruned elements zeroed in their own bytes (or, for methods
 * that update weights, every value re-encoded). Tied copies get the same zeros.
 */
function applyMask(t: LoadedTarget, mask: Bitmask, updatesWeights: boolean): { pruned: number; zeros: number; maxPruned: number | null } {
  // On the fp32 bits, branch-free: w &= -bit leaves kept weights and writes +0 over pruned
  // ones (also over -0, Inf or NaN, which multiplying by 0 would not).
  const w = new Uint32Array(t.weights.buffer, t.weights.byteOffset, t.count);
  const bits = mask.bits;
  const n = t.count;
  let keptZeros = 0;
  let maxPruned = 0;
  const aligned = bits.byteOffset % 4 === 0;
  const words = new Int32Array(bits.buffer, bits.byteOffset, aligned ? n >>> 5 : 0);
  const whole = words.length * 32;
  for (let base = 0, wi = 0; base < whole; base += 32, wi++) {
    const word = words[wi];
    for (let j = 0; j < 32; j++) {
      const keep = (word >>> j) & 1;
      const abs = w[base + j] & 0x7fffffff;
      const dropped = abs & (keep - 1);
      if (dropped > maxPruned) maxPruned = dropped;
      keptZeros += keep & ((abs - 1) >>> 31);
      w[base + j] &= -keep;
    }
  }
  for (let i = whole; i < n; i++) {
    const keep = (bits[i >>> 3] >>> (i & 7)) & 1;
    const abs = w[i] & 0x7fffffff;
    const dropped = abs & (keep - 1);
    if (dropped > maxPruned) maxPruned = dropped;
    keptZeros += keep & ((abs - 1) >>> 31);
    w[i] &= -keep;
  }
  const pruned = mask.pruned();
  const zeros = keptZeros + pruned;
  const size = elementBytes(t.tensor.dataType)!;
  if (!t.isView) {
    if (updatesWeights) encodeFloats(t.tensor.dataType, t.weights, t.bytes);
    else zeroBytes(t.bytes, size, mask);
  }
  t.copies.forEach((copy, i) => {
    const { tensor, bytes } = t.copyTensors[i];
    const [rows, cols] = t.shape;
    if (updatesWeights) {
      const values = copy.transposed ? transpose(t.weights, rows, cols) : t.weights;
      encodeFloats(tensor.dataType, values, bytes);
    } else {
      zeroBytes(bytes, elementBytes(tensor.dataType)!, copy.transposed ? mask.transposed(rows, cols) : mask);
    }
  });
  return { pruned, zeros, maxPruned: pruned ? keyToFloat(maxPruned) : null };
}

function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

export interface PruneFileOptions extends PruneOptions {
  /**
   * "stream" prunes magnitude (per matrix or global) from the source's data file straight into
   * the output's, holding no weights (src/prune/stream); "memory" loads the targets; "auto"
   * streams whenever it can (fp32 targets without tied copies, external data in and out).
   */
  engine?: "auto" | "stream" | "memory";
  /** Chunk size of the streamed engine (a multiple of 128 bytes; tests use small ones). Default 4 MiB. */
  streamChunkBytes?: number;
  input: string;
  output: string;
  /** Mask file to write; none when absent. */
  mask?: string;
  /** The model map; mapModel(model) when absent. */
  map?: ModelMap | ((model: OnnxModel) => ModelMap);
  externalData?: "auto" | "always" | "never";
}

/**
 * Reads a model, prunes it and writes the pruned model (external data streamed: weights that
 * are not pruned are copied from the source file in chunks, never held) and the mask file.
 */
export async function pruneFile(options: PruneFileOptions): Promise<PruneResult> {
  const start = now();
  const cpuStart = cpuNow();
  if (path.resolve(options.input) === path.resolve(options.output)) {
    throw new PruneError(`--out ${options.output} is the input model; write the pruned model to a new file`);
  }
  const model = readModel(options.input);
  checkFiniteWeights(model);
  refuseOverwritingInputData(model, options.output);
  const map = typeof options.map === "function" ? options.map(model) : (options.map ?? mapModel(model));
  const read = now();
  const cpuRead = cpuNow();
  // The streamed engine writes the model as it prunes; the in-memory one writes it afterwards.
  const streamed = await pruneFileStreamed(model, map, options);
  const { result, masks } = streamed ?? (await pruneModel(model, map, options));
  const pruned = now();
  const cpuPruned = cpuNow();
  if (!streamed) writeModel(model, options.output, { externalData: options.externalData ?? "auto" });
  const modelWritten = now();
  const cpuWritten = cpuNow();
  if (options.mask) {
    writeMaskFile(options.mask, masks, { model: path.basename(options.input), method: result.method, options: result.options, sparsity: result.sparsity });
  }
  const end = now();
  const cpuEnd = cpuNow();
  const write: Record<string, number> = streamed ? {} : { write: modelWritten - pruned };
  const cpuWrite: Record<string, number> = streamed ? {} : { write: cpuWritten - cpuPruned };
  return {
    ...result,
    output: options.output,
    mask: options.mask ?? null,
    seconds: { read: read - start, ...result.seconds, ...write, mask: end - modelWritten, total: end - start },
    cpuSeconds: { read: cpuRead - cpuStart, ...result.cpuSeconds, ...cpuWrite, mask: cpuEnd - cpuWritten, total: cpuEnd - cpuStart },
  };
}

/**
 * The output's data file (<out>.data beside it) must not be one the input reads its weights
 * from: the rename that publishes it would swap the input's weights for the pruned ones.
 */
function refuseOverwritingInputData(model: OnnxModel, output: string): void {
  const dataFile = path.resolve(`${output}.data`);
  for (const tensor of graphOf(model).initializer) {
    if (!isExternal(tensor)) continue;
    const source = tensorSource(model, tensor);
    if ("file" in source && path.resolve(source.file) === dataFile) {
      throw new PruneError(`--out ${output}: its data file ${dataFile} is where the input model keeps its weights; write the pruned model under another name`);
    }
  }
}

/** Streamed magnitude pruning (src/prune/stream), or null where the in-memory engine must run. */
async function pruneFileStreamed(model: OnnxModel, map: ModelMap, options: PruneFileOptions): Promise<PrunedModel | null> {
  const engine = options.engine ?? "auto";
  if (engine === "memory") return null;
  const method = getMaskMethod(options.method);
  const parsed = method.parseOptions(options.options ?? {});
  const scope = magnitudeScope(method.name, parsed);
  if (!scope) {
    if (engine === "stream") throw new PruneError(`${method.name}: only magnitude pruning (per matrix or global) can be streamed`);
    return null;
  }
  const sparsity = resolveSparsity(method, parsed, options.sparsity);
  const groups = chooseTargets(map, options.patterns);
  const write = { externalData: options.externalData ?? "auto" } as const;
  const obstacle = streamingObstacle(model, groups, write, options.output);
  if (obstacle) {
    if (engine === "stream") throw new PruneError(`${model.file}: cannot prune streamed: ${obstacle}`);
    return null;
  }
  const log = options.log ?? (() => {});
  const targets = streamedTargets(model, groups, scope);
  log(`${method.name} (streamed): ${targets.length} tensors, ${targets.reduce((n, t) => n + t.count, 0)} weights, sparsity ${sparsity}`);
  const cpuStart = cpuNow();
  const run = await pruneStreamed(model, targets, sparsity, { file: options.output, write, log, chunkBytes: options.streamChunkBytes });
  const result = summarize(model, method, parsed, { seed: options.seed ?? 0, sparsity, matrices: run.matrices, maxPruned: run.maxPrunedKey === null ? null : keyToFloat(run.maxPrunedKey) }, {
    seconds: { select: run.seconds.select, write: run.seconds.write },
    cpuSeconds: { streamed: cpuNow() - cpuStart },
  });
  return { result, masks: run.masks };
}

function magnitudeScope(name: string, parsed: unknown): "matrix" | "global" | null {
  if (name !== "magnitude" && name !== "global") return null;
  const scope = (parsed as { scope?: unknown }).scope;
  return scope === "matrix" || scope === "global" ? scope : null;
}

export interface SweepRun {
  method: string;
  options?: Record<string, unknown>;
  sparsity?: number;
  output: string;
  mask?: string;
}

/**
 * Several (method, sparsity) runs on one model. Each run re-reads the original model (for
 * external data only the graph is re-read), so pruning is never cumulative.
 */
export async function pruneSweep(options: Omit<PruneFileOptions, "method" | "options" | "sparsity" | "output" | "mask"> & { runs: SweepRun[] }): Promise<PruneResult[]> {
  const results: PruneResult[] = [];
  for (const run of options.runs) results.push(await pruneFile({ ...options, ...run }));
  return results;
}
