/**
 * One bit per weight, in the tensor's own (row-major) element order, least significant bit
 * first within each byte. A set bit means the weight is kept, as in torch.nn.utils.prune
 * (weight * mask). Bits past `length` in the last byte are zero.
 */
export class Bitmask {
  readonly bits: Uint8Array;

  constructor(
    readonly length: number,
    bits?: Uint8Array,
  ) {
    const bytes = Math.ceil(length / 8);
    if (bits) {
      if (bits.byteLength !== bytes) throw new Error(`a mask of ${length} bits needs ${bytes} bytes, got ${bits.byteLength}`);
      this.bits = bits;
    } else {
      this.bits = new Uint8Array(bytes);
    }
  }

  /** A mask with every weight kept. */
  static full(length: number): Bitmask {
    const mask = new Bitmask(length);
    mask.bits.fill(0xff);
    const rest = length % 8;
    if (rest) mask.bits[mask.bits.length - 1] = (1 << rest) - 1;
    return mask;
  }

  get(i: number): boolean {
    return ((this.bits[i >>> 3] >>> (i & 7)) & 1) === 1;
  }

  keep(i: number): void {
    this.bits[i >>> 3] |= 1 << (i & 7);
  }

  prune(i: number): void {
    this.bits[i >>> 3] &= ~(1 << (i & 7));
  }

  /** Number of kept weights. */
  kept(): number {
    const bits = this.bits;
    // 32 bits at a time where the bytes are aligned (a fresh Bitmask always is), SWAR popcount.
    const words = bits.byteOffset % 4 === 0 ? new Int32Array(bits.buffer, bits.byteOffset, bits.byteLength >>> 2) : new Int32Array(0);
    let n = 0;
    for (let i = 0; i < words.length; i++) {
      let v = words[i];
      v = v - ((v >>> 1) & 0x55555555);
      v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
      n += (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
    }
    for (let i = words.length * 4; i < bits.length; i++) n += POPCOUNT[bits[i]];
    return n;
  }

  pruned(): number {
    return this.length - this.kept();
  }

  /**
   * The mask of the transposed matrix: a tied weight stored once as [rows, cols] and once as
   * [cols, rows] must lose the same values in both.
   */
  transposed(rows: number, cols: number): Bitmask {
    if (rows * cols !== this.length) throw new Error(`cannot transpose a ${this.length}-bit mask as ${rows}x${cols}`);
    const out = new Bitmask(this.length);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) if (this.get(r * cols + c)) out.keep(c * rows + r);
    }
    return out;
  }

  /** Zeroes the pruned weights of `weights` in place; returns how many were set to zero. */
  apply(weights: { length: number; [i: number]: number }): number {
    if (weights.length !== this.length) throw new Error(`mask of ${this.length} bits applied to ${weights.length} weights`);
    let zeroed = 0;
    const bits = this.bits;
    for (let byte = 0; byte < bits.length; byte++) {
      const b = bits[byte];
      if (b === 0xff) continue;
      const base = byte * 8;
      const end = Math.min(8, this.length - base);
      for (let j = 0; j < end; j++) {
        if (!((b >>> j) & 1)) {
          weights[base + j] = 0;
          zeroed++;
        }
      }
    }
    return zeroed;
  }
}

const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >>> 1];
