/**
 * The factor SparseGPT's sweep reads: upper-triangular U with H^-1 = U^T U, in float32 as the
 * reference code (IST-DASLab/sparsegpt) computes it.
 *
 * With P the reversal permutation and P H P = L L^T, H^-1 = (P L^-1 P)^T (P L^-1 P), so
 * U = P L^-1 P: one Cholesky and one triangular inverse instead of the reference code's
 * Cholesky, cholesky_inverse and second Cholesky. Both run together, recursively on halves:
 *
 *   A = [A11 A21^T; A21 A22],  X = L^-1 = [X11 0; X21 X22]
 *   X11 = inv(chol(A11)),  Y = A21 X11^T (= L21),  S = A22 - Y Y^T,  X22 = inv(chol(S)),
 *   X21 = -X22 (Y X11)
 *
 * so all but the small diagonal blocks is four matrix products per level, run by onnxruntime
 * (gemm.ts). The diagonal blocks (at most BASE wide) are factored in float64 in JavaScript:
 * about 2/3 BASE^3 flops each, a few milliseconds.
 */
import { PruneError } from "../errors.ts";
import { gemm } from "./gemm.ts";

/** Widest diagonal block factored in JavaScript; the halves split at multiples of it. */
const BASE = 128;

/**
 * U with H^-1 = U^T U for a symmetric positive definite H [n, n] (row-major, the full
 * matrix). `h` is not modified.
 */
export async function inverseCholeskyUpper(h: ArrayLike<number>, n: number): Promise<Float32Array> {
  const a = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    const src = (n - 1 - i) * n + (n - 1);
    for (let j = 0; j <= i; j++) a[i * n + j] = h[src - j];
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a[j * n + i] = a[i * n + j];
  const x = await inverseFactor(a, n, (at) => n - 1 - at);
  // U = P X P, which is upper triangular because X is lower.
  const u = a;
  u.fill(0);
  for (let i = 0; i < n; i++) {
    const src = (n - 1 - i) * n + (n - 1);
    for (let j = i; j < n; j++) u[i * n + j] = x[src - j];
  }
  return u;
}

/**
 * X = L^-1 for the lower Cholesky factor L of a symmetric positive definite A (full storage),
 * as a new lower-triangular array. `hIndex` maps a row of A to the Hessian's, for the error.
 */
async function inverseFactor(a: Float32Array, n: number, hIndex: (row: number) => number): Promise<Float32Array> {
  if (n <= BASE) return baseInverseFactor(a, n, hIndex);
  const n1 = BASE * Math.ceil(n / BASE / 2);
  const n2 = n - n1;
  const a11 = block(a, n, 0, 0, n1, n1);
  const a21 = block(a, n, n1, 0, n2, n1);
  const a22 = block(a, n, n1, n1, n2, n2);
  const x11 = await inverseFactor(a11, n1, hIndex);
  const y = await gemm({ data: a21, rows: n2, cols: n1 }, { data: x11, rows: n1, cols: n1 }, { transB: true });
  const s = await gemm({ data: y, rows: n2, cols: n1 }, { data: y, rows: n2, cols: n1 }, { transB: true, alpha: -1, c: { data: a22, rows: n2, cols: n2 } });
  const x22 = await inverseFactor(s, n2, (row) => hIndex(row + n1));
  const z = await gemm({ data: y, rows: n2, cols: n1 }, { data: x11, rows: n1, cols: n1 });
  const x21 = await gemm({ data: x22, rows: n2, cols: n2 }, { data: z, rows: n2, cols: n1 }, { alpha: -1 });
  const x = new Float32Array(n * n);
  for (let i = 0; i < n1; i++) x.set(x11.subarray(i * n1, i * n1 + i + 1), i * n);
  for (let i = 0; i < n2; i++) {
    x.set(x21.subarray(i * n1, (i + 1) * n1), (n1 + i) * n);
    x.set(x22.subarray(i * n2, i * n2 + i + 1), (n1 + i) * n + n1);
  }
  return x;
}

function block(a: Float32Array, n: number, row: number, col: number, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) out.set(a.subarray((row + i) * n + col, (row + i) * n + col + cols), i * cols);
  return out;
}

/** Cholesky and triangular inverse of a small block in float64. */
function baseInverseFactor(src: Float32Array, n: number, hIndex: (row: number) => number): Float32Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = src[i * n + j];
  // Lower Cholesky in place (row-oriented).
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let sum = a[ri + j];
      for (let k = 0; k < j; k++) sum -= a[ri + k] * a[rj + k];
      if (i === j) {
        if (!(sum > 0)) throw new PruneError(`sparsegpt: the Hessian is not positive definite at ${hIndex(i)} (raise damp)`);
        a[ri + i] = Math.sqrt(sum);
      } else {
        a[ri + j] = sum / a[rj + j];
      }
    }
  }
  // Inverse X of the lower factor, row by row: X[i, :] = (e_i - sum_k<i L[i][k] X[k, :]) / L[i][i],
  // each term an update along a contiguous row (a column-oriented solve strides through memory).
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let k = 0; k < i; k++) {
      const f = a[ri + k];
      if (f === 0) continue;
      const rk = k * n;
      for (let j = 0; j <= k; j++) inv[ri + j] -= f * inv[rk + j];
    }
    inv[ri + i] = 1;
    const d = a[ri + i];
    for (let j = 0; j <= i; j++) inv[ri + j] /= d;
  }
  return Float32Array.from(inv);
}
