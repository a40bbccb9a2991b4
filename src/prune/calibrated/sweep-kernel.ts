import { readFileSync } from "node:fs";

/**
 * The WebAssembly in-block sweep (sweep.wat) and the memory it works in: one block of B rows
 * of the weight, its mask and errors, each row padded to a multiple of 4 floats, and the
 * block's B x B piece of U placed first (see the kernel's note on short quads).
 */
interface SweepExports {
  sweep(w: number, u: number, m: number, e: number, b: number, ld: number, from: number, to: number): void;
}

let compiled: WebAssembly.Module | undefined;
function sweepModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(readFileSync(new URL("./sweep.wasm", import.meta.url)));
  return compiled;
}

const PAGE = 65536;

export class SweepArena {
  /** Row stride of w, m and e (floats): the columns rounded up to a multiple of 4. */
  readonly ld: number;
  /** The block's U [b, b] (row-major, stride b for the current block's b). */
  readonly u: Float32Array;
  /** Weights [blockSize, ld]. */
  readonly w: Float32Array;
  /** 1 kept, 0 pruned [blockSize, ld]. */
  readonly m: Float32Array;
  /** Errors [blockSize, ld]. */
  readonly e: Float32Array;
  private readonly kernel: SweepExports;

  constructor(blockSize: number, cols: number) {
    this.ld = Math.ceil(cols / 4) * 4;
    const uBytes = Math.ceil((blockSize * blockSize * 4) / 16) * 16;
    const rowBytes = blockSize * this.ld * 4;
    const pages = Math.ceil((uBytes + 3 * rowBytes) / PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.kernel = new WebAssembly.Instance(sweepModule(), { env: { memory } }).exports as unknown as SweepExports;
    this.u = new Float32Array(memory.buffer, 0, blockSize * blockSize);
    this.w = new Float32Array(memory.buffer, uBytes, blockSize * this.ld);
    this.m = new Float32Array(memory.buffer, uBytes + rowBytes, blockSize * this.ld);
    this.e = new Float32Array(memory.buffer, uBytes + 2 * rowBytes, blockSize * this.ld);
  }

  /**
   * Sweeps rows [from, to) of a block of b rows: prunes them by the mask, records their errors,
   * and updates every later row of the block.
   */
  sweep(b: number, from: number, to: number): void {
    this.kernel.sweep(this.w.byteOffset, this.u.byteOffset, this.m.byteOffset, this.e.byteOffset, b, this.ld, from, to);
  }
}
