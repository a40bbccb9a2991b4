import { readFileSync } from "node:fs";
import { markAligned } from "../../onnx/direct-io.ts";

/**
 * The WebAssembly selection kernels (kernels.wat) and the memory they work in. Weights are
 * read straight into the kernels' memory in chunks (`chunks`), so a streamed pass never
 * holds a tensor, and nothing is copied between JS and WebAssembly.
 */
interface KernelExports {
  histAbs(src: number, n: number, hist: number): void;
  countWindow(src: number, n: number, base: number, width: number, low: number): void;
  resetStats(ties: number): void;
  maskAbs(src: number, n: number, threshold: number, mask: number): void;
  pruned(): number;
  keptZeros(): number;
  maxPruned(): number;
  ties(): number;
}

let compiled: WebAssembly.Module | undefined;
function kernelModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(readFileSync(new URL("./kernels.wasm", import.meta.url)));
  return compiled;
}

const PAGE = 65536;
const HIGH_BINS = 32768;
const SUBS = 4;
const LOW_BINS = 65536;
/** Most first-digit buckets a second-digit count covers at once. */
export const MAX_WINDOW = 9;

export interface KernelArenaOptions {
  /** Bytes per chunk; a multiple of 128 (32 fp32 weights, one mask word). */
  chunkBytes: number;
  /** Chunks that can be in flight at once (being read, worked on, or written). */
  chunks: number;
}

/** Statistics of one tensor's mask-and-zero pass. */
export interface MaskStats {
  pruned: number;
  keptZeros: number;
  /** Largest pruned |w| as a key (fp32 bits); 0 when nothing was pruned. */
  maxPrunedKey: number;
  /** Tie budget left after this tensor. */
  ties: number;
}

/**
 * One instance of the kernels with a fixed memory: histograms, a mask scratch area and the
 * chunk buffers. The memory never grows, so the chunk views stay valid.
 */
export class KernelArena {
  readonly chunks: Uint8Array[];
  readonly chunkBytes: number;
  private readonly kernels: KernelExports;
  private readonly memory: WebAssembly.Memory;
  private readonly highAt: number;
  private readonly lowAt: number;
  private readonly maskAt: number;

  constructor(options: KernelArenaOptions) {
    if (options.chunkBytes % 128 !== 0 || options.chunkBytes <= 0) throw new Error(`chunk size ${options.chunkBytes} is not a positive multiple of 128 bytes`);
    this.chunkBytes = options.chunkBytes;
    this.highAt = 0;
    this.lowAt = this.highAt + HIGH_BINS * SUBS * 4;
    this.maskAt = this.lowAt + MAX_WINDOW * LOW_BINS * 4;
    const chunksAt = align(this.maskAt + options.chunkBytes / 32, PAGE);
    const bytes = chunksAt + options.chunks * options.chunkBytes;
    const pages = Math.ceil(bytes / PAGE);
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.kernels = new WebAssembly.Instance(kernelModule(), { env: { memory: this.memory } }).exports as unknown as KernelExports;
    this.chunks = Array.from({ length: options.chunks }, (_, i) => new Uint8Array(this.memory.buffer, chunksAt + i * options.chunkBytes, options.chunkBytes));
    // WebAssembly memory is page-aligned, so chunks on 4096-byte offsets can be written with O_DIRECT.
    markAligned(this.chunks);
  }

  /** Zeroes the first-digit histogram. */
  clearHigh(): void {
    new Uint32Array(this.memory.buffer, this.highAt, HIGH_BINS * SUBS).fill(0);
  }

  /** Counts the chunk's weights by the top 16 bits of |w| (sign cleared: 32768 bins). */
  countHigh(chunk: Uint8Array): void {
    this.kernels.histAbs(this.addressOf(chunk), weightsIn(chunk), this.highAt);
  }

  /** The first-digit histogram so far, the four sub-histograms summed. */
  high(): Uint32Array {
    const subs = new Uint32Array(this.memory.buffer, this.highAt, HIGH_BINS * SUBS);
    const out = new Uint32Array(HIGH_BINS);
    for (let s = 0; s < SUBS; s++) for (let b = 0; b < HIGH_BINS; b++) out[b] += subs[s * HIGH_BINS + b];
    return out;
  }

  /** Zeroes the second-digit histograms of a window of `width` buckets. */
  clearLow(width = MAX_WINDOW): void {
    new Uint32Array(this.memory.buffer, this.lowAt, width * LOW_BINS).fill(0);
  }

  /**
   * Counts, by their low 16 bits, the chunk's weights whose first digit |w| >>> 16 lies in
   * [base, base + width): one 65536-bin histogram per bucket of the window.
   */
  countLow(chunk: Uint8Array, base: number, width = 1): void {
    if (width < 1 || width > MAX_WINDOW) throw new Error(`a second-digit window of ${width} buckets (1 to ${MAX_WINDOW})`);
    this.kernels.countWindow(this.addressOf(chunk), weightsIn(chunk), base, width, this.lowAt);
  }

  /** The second-digit histogram of the window's bucket `index` (0 for base). */
  low(index = 0): Uint32Array {
    return new Uint32Array(this.memory.buffer, this.lowAt + index * LOW_BINS * 4, LOW_BINS).slice();
  }

  /** Starts a tensor's mask-and-zero pass with `ties` threshold-equal weights still to prune. */
  startMasking(ties: number): void {
    this.kernels.resetStats(ties);
  }

  /**
   * Zeroes the chunk's weights with |w| below the threshold key (and threshold-equal ones while
   * the tie budget lasts), in place, and returns the chunk's keep bits (a view, valid until the
   * next call). The chunk must start on a 32-weight boundary of its tensor.
   */
  mask(chunk: Uint8Array, threshold: number): Uint8Array {
    const n = weightsIn(chunk);
    this.kernels.maskAbs(this.addressOf(chunk), n, threshold, this.maskAt);
    return new Uint8Array(this.memory.buffer, this.maskAt, Math.ceil(n / 8));
  }

  stats(): MaskStats {
    const k = this.kernels;
    return { pruned: k.pruned(), keptZeros: k.keptZeros(), maxPrunedKey: k.maxPruned() >>> 0, ties: k.ties() };
  }

  private addressOf(chunk: Uint8Array): number {
    if (chunk.buffer !== this.memory.buffer) throw new Error("chunk is not in this kernel arena's memory");
    if (chunk.byteOffset % 4 !== 0) throw new Error("chunk is not 4-byte aligned");
    return chunk.byteOffset;
  }
}

function weightsIn(chunk: Uint8Array): number {
  if (chunk.byteLength % 4 !== 0) throw new Error(`a chunk of ${chunk.byteLength} bytes is not whole fp32 weights`);
  return chunk.byteLength / 4;
}

function align(x: number, to: number): number {
  return Math.ceil(x / to) * to;
}
