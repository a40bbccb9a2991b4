import type { TensorProto } from "onnx-buf";
import { ByteRangeReader, forEachChunk, type ByteSource, tensorSource } from "../../onnx/chunks.ts";
import { alignedBuffers } from "../../onnx/direct-io.ts";
import { DataType, dataTypeName } from "../../onnx/dtype.ts";
import { graphOf, type OnnxModel } from "../../onnx/model.ts";
import { elementCount, tensorShape } from "../../onnx/tensor.ts";
import { externalLayout, usesExternalData, type WriteOptions } from "../../onnx/write.ts";
import { writeModelStreamed } from "../../onnx/write-stream.ts";
import { Bitmask } from "../bitmask.ts";
import type { MaskEntry } from "../mask-file.ts";
import type { PrunedMatrix } from "../result.ts";
import { prunedCount } from "../rounding.ts";
import { binOfRank, firstNaN, nanError } from "../select.ts";
import type { TargetGroup } from "../targets.ts";
import { KernelArena } from "./kernels.ts";

/**
 * Magnitude pruning (per matrix and global) streamed from the source model's data file to the
 * output's, for models too large to hold comfortably: two passes over the target weights
 * (three when a guess misses), each reading them in 16 MiB chunks into WebAssembly memory:
 *   1. count |w| by its top 16 bits (per scope: the whole target set, or each matrix) and, in
 *      a window of buckets around the one a sample says holds the k-th smallest, by its low 16
 *      bits too: the exact threshold key and how many weights equal to it are pruned;
 *   2. only where the threshold's bucket fell outside the window: count the low 16 bits
 *      inside that bucket;
 *   3. while writing the output, zero what lies below the threshold (and the first tied
 *      weights, in file order), recording mask bits and counts.
 * The result, masks and output bytes are exactly those of the in-memory engine (the tests
 * compare them); memory use is the chunk buffers and the masks, whatever the model's size.
 */
export interface StreamedTarget {
  name: string;
  tensor: TensorProto;
  shape: number[];
  count: number;
  source: ByteSource;
  scope: number;
}

export interface StreamedPrune {
  matrices: PrunedMatrix[];
  masks: MaskEntry[];
  /** Largest pruned |w| key over all targets, or null when none was pruned. */
  maxPrunedKey: number | null;
  seconds: { select: number; write: number };
}

const CHUNK_BYTES = 16 << 20;
/** Chunks in WebAssembly memory (selection passes and pruned weights) and for plain copying. */
const CHUNKS = 8;
const COPY_CHUNKS = 4;

/**
 * Why `groups` cannot be pruned streamed into `output` (null when they can): the streamed path
 * covers fp32 targets without tied copies, written to a data file where every target lands.
 */
export function streamingObstacle(model: OnnxModel, groups: readonly TargetGroup[], write: WriteOptions, file: string): string | null {
  if (!usesExternalData(model, write)) return "the output is written inline";
  const byName = new Map(graphOf(model).initializer.map((t) => [t.name, t]));
  const placed = new Set(externalLayout(model, file, write).placed.map((p) => p.tensor.name));
  for (const { info, copies } of groups) {
    const tensor = byName.get(info.name);
    if (!tensor) return `${info.name} is not an initializer of the main graph`;
    if (tensor.dataType !== DataType.FLOAT) return `${info.name} is ${dataTypeName(tensor.dataType)}, not FLOAT`;
    if (copies.length) return `${info.name} has tied copies`;
    if (!placed.has(info.name)) return `${info.name} stays inline in the output`;
  }
  return null;
}

/** Targets in file (initializer) order, which is the order ties at the threshold are pruned in. */
export function streamedTargets(model: OnnxModel, groups: readonly TargetGroup[], scope: "matrix" | "global"): StreamedTarget[] {
  const chosen = new Set(groups.map((g) => g.info.name));
  const tensors = graphOf(model).initializer.filter((t) => chosen.has(t.name));
  return tensors.map((tensor, i) => {
    const shape = tensorShape(model, tensor);
    return { name: tensor.name, tensor, shape, count: elementCount(shape), source: tensorSource(model, tensor), scope: scope === "global" ? 0 : i };
  });
}

interface ScopeSelection {
  k: number;
  bucket: number;
  /** Weights below the bucket, then (after pass 2) below the threshold. */
  below: number;
  threshold: number;
  ties: number;
  /** Pass 2 is needed: the bucket is split by the threshold. */
  refine: boolean;
  /** Some key is Inf or NaN. */
  nonFinite: boolean;
  /** First bucket of the window whose second digit pass 1 counts (guessed from a sample). */
  window: number;
}

export async function pruneStreamed(
  model: OnnxModel,
  targets: readonly StreamedTarget[],
  sparsity: number,
  output: { file: string; write: WriteOptions; log: (line: string) => void; chunkBytes?: number },
): Promise<StreamedPrune> {
  const chunkBytes = output.chunkBytes ?? CHUNK_BYTES;
  const arena = new KernelArena({ chunkBytes, chunks: CHUNKS });
  const started = performance.now();
  const scopes = scopeRanges(targets);
  const selections: ScopeSelection[] = scopes.map(({ count }) => ({ k: prunedCount(sparsity, count), bucket: 0, below: 0, threshold: 0, ties: 0, refine: false, nonFinite: false, window: 0 }));
  let selected = started;
  const selecting = select(model.file, targets, scopes, selections, arena, output.log).then(() => {
    selected = performance.now();
    output.log(`streamed selection done in ${((selected - started) / 1000).toFixed(1)} s; writing the pruned weights`);
  });

  // The last pass: zero, mask and write; the weights that are not pruned are copied meanwhile.
  const index = new Map(targets.map((t, i) => [t.name, i]));
  const masks = targets.map((t) => new Bitmask(t.count));
  const ties: number[] = [];
  const matrices: PrunedMatrix[] = targets.map((t) => ({ name: t.name, shape: t.shape, dataType: "FLOAT", count: t.count, pruned: 0, zeros: 0, sparsity: 0, copies: [] }));
  let maxPrunedKey: number | null = null;
  const transform = (tensor: TensorProto, bytes: Uint8Array, offset: number) => {
    const i = index.get(tensor.name)!;
    const t = targets[i];
    const selection = selections[t.scope];
    // The tie budget runs on through the scope's tensors, in file order.
    if (offset === 0) arena.startMasking(i === scopes[t.scope].first ? selection.ties : ties[t.scope]);
    masks[i].bits.set(arena.mask(bytes, selection.threshold), offset / 32);
    if (!endsTensor(t, offset, bytes)) return;
    const stats = arena.stats();
    ties[t.scope] = stats.ties;
    const m = matrices[i];
    m.pruned = stats.pruned;
    m.zeros = stats.pruned + stats.keptZeros;
    m.sparsity = t.count ? m.zeros / t.count : 0;
    if (stats.pruned) maxPrunedKey = Math.max(maxPrunedKey ?? 0, stats.maxPrunedKey);
  };
  let lastLine = 0;
  await writeModelStreamed(model, output.file, {
    ...output.write,
    buffers: alignedBuffers(COPY_CHUNKS, chunkBytes),
    transformed: { names: new Set(index.keys()), ready: selecting, buffers: arena.chunks, transform },
    progress: (written, total) => {
      const now = performance.now();
      if (now - lastLine < 10_000 && written < total) return;
      lastLine = now;
      output.log(`writing ${output.file}: ${Math.round((100 * written) / total)}% of ${(total / 2 ** 30).toFixed(2)} GiB`);
    },
  });
  const masksOut: MaskEntry[] = targets.map((t, i) => ({ name: t.name, shape: t.shape, mask: masks[i], copies: [] }));
  return { matrices, masks: masksOut, maxPrunedKey, seconds: { select: (selected - started) / 1000, write: (performance.now() - selected) / 1000 } };
}

/** Passes 1 and 2: each scope's threshold key and tie budget. */
async function select(
  label: string,
  targets: readonly StreamedTarget[],
  scopes: readonly ScopeRange[],
  selections: ScopeSelection[],
  arena: KernelArena,
  log: (line: string) => void,
): Promise<void> {
  guessWindows(targets, scopes, selections);
  // Pass 1: the first radix digit of |w| per scope, and the second inside the guessed window.
  await forEachChunk(label, targets.map((t) => t.source), arena.chunks, ({ source, offset, bytes }) => {
    const t = targets[source];
    const range = scopes[t.scope];
    const selection = selections[t.scope];
    if (source === range.first && offset === 0) {
      arena.clearHigh();
      arena.clearLow(GUESS_WINDOW);
    }
    arena.countHigh(bytes);
    if (selection.k > 0) arena.countLow(bytes, selection.window, GUESS_WINDOW);
    if (source === range.last && endsTensor(t, offset, bytes)) {
      chooseBucket(arena.high(), selection);
      const index = selection.bucket - selection.window;
      if (selection.refine && index >= 0 && index < GUESS_WINDOW) {
        chooseThreshold(arena.low(index), selection);
        selection.refine = false;
      }
    }
  });
  if (selections.some((s) => s.nonFinite)) await findNaN(label, targets, arena);
  // Pass 2, where the guess missed: the second digit inside the bucket the threshold splits.
  const refined = targets.map((t, i) => ({ t, i })).filter(({ t }) => selections[t.scope].refine);
  if (!refined.length) return;
  log(`streamed selection: the sampled guess missed ${selections.filter((s) => s.refine).length} of ${scopes.length} scopes; one more pass for them`);
  await forEachChunk(label, refined.map(({ t }) => t.source), arena.chunks, ({ source, offset, bytes }) => {
    const { t, i } = refined[source];
    const range = scopes[t.scope];
    const selection = selections[t.scope];
    if (i === range.first && offset === 0) arena.clearLow(1);
    arena.countLow(bytes, selection.bucket);
    if (i === range.last && endsTensor(t, offset, bytes)) chooseThreshold(arena.low(), selection);
  });
}

/**
 * Buckets counted around the guess. Each is a 256 KiB histogram hit at random: five stay in
 * L2; nine made pass 1 slower than the pass they save.
 */
const GUESS_WINDOW = 5;
/** Sampled weights per scope, at least: the guess's error is then under a bucket or so. */
const SAMPLE_KEYS = 65536;
const MIN_BLOCKS = 8;
const SAMPLE_BYTES = 4096;

/**
 * Guesses each scope's threshold bucket from a sample (a small matrix whole, a large one as
 * 4 KiB blocks spread over it, at least 8 a matrix and 64K weights a scope: a few MB read in
 * all), each sampled weight standing for its matrix's share, and centres the pass-1 window of
 * second-digit histograms on it. A bucket spans 1/128 of an octave, so the sampled quantile
 * lands within a bucket or two of the true one; when it misses the window, pass 2 runs for
 * that scope.
 */
function guessWindows(targets: readonly StreamedTarget[], scopes: readonly ScopeRange[], selections: ScopeSelection[]): void {
  const weighted = new Float64Array(32768);
  scopes.forEach((range, scope) => {
    const selection = selections[scope];
    if (selection.k === 0) return;
    weighted.fill(0);
    for (let i = range.first; i <= range.last; i++) {
      const keys = sampleKeys(targets[i], range.last - range.first + 1);
      const weight = targets[i].count / keys.length;
      for (let j = 0; j < keys.length; j++) weighted[(keys[j] >>> 16) & 0x7fff] += weight;
    }
    selection.window = Math.max(0, binOfRank(weighted, selection.k, 0).bin - (GUESS_WINDOW >> 1));
  });
}

/**
 * The byte ranges sampled from one of a scope's `tensors` tensors: all of it when small, else
 * 4 KiB blocks spread over it.
 */
export function sampledRanges(byteLength: number, tensors: number): { at: number; length: number }[] {
  const blocks = Math.max(MIN_BLOCKS, Math.ceil(SAMPLE_KEYS / (SAMPLE_BYTES / 4) / tensors));
  if (byteLength <= blocks * SAMPLE_BYTES) return [{ at: 0, length: byteLength }];
  return Array.from({ length: blocks }, (_, b) => ({ at: Math.floor((b * (byteLength - SAMPLE_BYTES)) / (blocks - 1) / 4) * 4, length: SAMPLE_BYTES }));
}

function sampleKeys(t: StreamedTarget, tensors: number): Uint32Array {
  const ranges = sampledRanges(t.count * 4, tensors);
  const bytes = new Uint8Array(ranges.reduce((n, r) => n + r.length, 0));
  const reader = new ByteRangeReader(t.source);
  try {
    let offset = 0;
    for (const { at, length } of ranges) {
      bytes.set(reader.read(at, length), offset);
      offset += length;
    }
  } finally {
    reader.close();
  }
  return new Uint32Array(bytes.buffer);
}

/** The chunk at `offset` is the tensor's last. */
function endsTensor(t: StreamedTarget, offset: number, bytes: Uint8Array): boolean {
  return offset + bytes.byteLength === t.count * 4;
}

/** A scope's targets are consecutive: [first, last], holding `count` weights. */
interface ScopeRange {
  first: number;
  last: number;
  count: number;
}

function scopeRanges(targets: readonly StreamedTarget[]): ScopeRange[] {
  const ranges: ScopeRange[] = [];
  targets.forEach((t, i) => {
    const range = (ranges[t.scope] ??= { first: i, last: i, count: 0 });
    range.last = i;
    range.count += t.count;
  });
  return ranges;
}

const INF_BUCKET = 0x7f800000 >>> 16;

/** The bucket holding the k-th smallest |w|; flags keys at or past Inf for findNaN. */
function chooseBucket(high: Uint32Array, selection: ScopeSelection): void {
  for (let b = INF_BUCKET; b < high.length; b++) if (high[b]) selection.nonFinite = true;
  const k = selection.k;
  if (k === 0) return;
  const { bin: bucket, below } = binOfRank(high, k, 0);
  selection.bucket = bucket;
  selection.below = below;
  if (below + high[bucket] === k) {
    // The whole bucket goes: the next bucket's first key is the threshold, with no ties.
    selection.threshold = (bucket + 1) * 65536;
    selection.ties = 0;
  } else {
    selection.refine = true;
  }
}

function chooseThreshold(low: Uint32Array, selection: ScopeSelection): void {
  const { bin: l, below } = binOfRank(low, selection.k, selection.below);
  selection.threshold = selection.bucket * 65536 + l;
  selection.ties = selection.k - below;
  selection.below = below;
}

/**
 * Some scope holds a key at or past Inf: one more pass names the first NaN, which magnitude
 * cannot rank. Inf alone is fine (it ranks above every finite weight).
 */
async function findNaN(label: string, targets: readonly StreamedTarget[], arena: KernelArena): Promise<void> {
  await forEachChunk(label, targets.map((t) => t.source), arena.chunks, ({ source, offset, bytes }) => {
    const i = firstNaN(new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
    if (i >= 0) throw nanError(targets[source].name, offset / 4 + i);
  });
}
