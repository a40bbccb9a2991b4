/**
 * Tied weights written twice. Exporters write a tied embedding once for the Gather and once,
 * transposed by constant folding, for the LM head's MatMul. Training both copies apart would
 * untie them; the training graph instead computes the copy from its original, so both uses add
 * to one gradient, and the copy is rewritten from the original afterwards.
 */
import type { TensorProto } from "onnx-buf";
import { DataType } from "../onnx/dtype.ts";

export interface TiedCopy {
  /** The initializer that is recomputed. */
  copy: string;
  /** The initializer that is trained. */
  of: string;
  transposed: boolean;
}

export function findTiedCopies(tensors: { tensor: TensorProto; data: Float32Array }[]): TiedCopy[] {
  const out: TiedCopy[] = [];
  const matrices = tensors.filter((t) => t.tensor.dataType === DataType.FLOAT && t.tensor.dims.length === 2 && t.data.length >= 64);
  const taken = new Set<string>();
  for (let i = 0; i < matrices.length; i++) {
    const a = matrices[i];
    if (taken.has(a.tensor.name)) continue;
    const [r, c] = a.tensor.dims.map(Number);
    for (let j = i + 1; j < matrices.length; j++) {
      const b = matrices[j];
      if (taken.has(b.tensor.name)) continue;
      const [br, bc] = b.tensor.dims.map(Number);
      let transposed: boolean;
      if (br === c && bc === r && equalTransposed(a.data, b.data, r, c)) transposed = true;
      else if (br === r && bc === c && equal(a.data, b.data)) transposed = false;
      else continue;
      // The larger use (the Gather table, listed first by exporters) stays the original.
      out.push({ copy: b.tensor.name, of: a.tensor.name, transposed });
      taken.add(b.tensor.name);
    }
  }
  return out;
}

function equal(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  // All-zero or constant tensors (fresh biases, norms) are equal by accident, not tied.
  return !isConstant(a);
}

function equalTransposed(a: Float32Array, b: Float32Array, rows: number, cols: number): boolean {
  for (let k = 0; k < 8; k++) {
    const i = Math.floor((k * rows) / 8);
    const j = Math.floor((k * cols) / 8);
    if (a[i * cols + j] !== b[j * rows + i]) return false;
  }
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) if (a[i * cols + j] !== b[j * rows + i]) return false;
  return !isConstant(a);
}

function isConstant(a: Float32Array): boolean {
  for (let i = 1; i < a.length; i++) if (a[i] !== a[0]) return false;
  return true;
}

export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(data.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j];
  return out;
}

/**
 * A fixed sinusoidal position table (Vaswani et al. 2017, in Hugging Face Pegasus's layout: sines
 * in the first half of each row, cosines in the second; Marian/BART-style interleaving also
 * accepted). Such tables are buffers, not parameters: training leaves them alone.
 */
export function isSinusoidal(data: Float32Array, rows: number, cols: number): boolean {
  if (rows < 4 || cols < 4 || cols % 2) return false;
  const half = cols / 2;
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-3;
  const check = (layout: (p: number, j: number) => [number, number]) => {
    for (let p = 1; p < Math.min(rows, 6); p++) {
      for (const j of [0, 1, Math.floor(half / 2), half - 1]) {
        const angle = p / 10000 ** ((2 * j) / cols);
        const [si, ci] = layout(p, j);
        if (!near(data[si], Math.sin(angle)) || !near(data[ci], Math.cos(angle))) return false;
      }
    }
    return true;
  };
  return check((p, j) => [p * cols + j, p * cols + half + j]) || check((p, j) => [p * cols + 2 * j, p * cols + 2 * j + 1]);
}
