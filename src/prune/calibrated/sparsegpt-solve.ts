/**
 * SparseGPT's per-matrix solver (Frantar & Alistarh 2023, "SparseGPT: Massive Language Models
 * Can Be Accurately Pruned in One-Shot", Algorithm 1 and the reference code's fasterprune).
 *
 * The paper's W is [out, in] and sweeps its columns (inputs). An ONNX MatMul weight is
 * [in, out], so here the sweep runs over ROWS, each a contiguous run of `out` values.
 */
import { Bitmask } from "../bitmask.ts";
import { PruneError } from "../errors.ts";
import { prunedCount } from "../rounding.ts";

export interface SparseGptOptions {
  /** Keep n of every m consecutive inputs of each output; unstructured when absent. */
  nm?: { n: number; m: number };
  /** Rows swept together before the lazy update of the rest (the paper's B = 128). */
  blockSize: number;
  /** Dampening, as a fraction of the mean diagonal of H (the paper's 1%). */
  damp: number;
}

export const SPARSEGPT_DEFAULTS: SparseGptOptions = { blockSize: 128, damp: 0.01 };

/**
 * Upper-triangular U with H^-1 = U^T U, the factor the sweep reads. With P the reversal
 * permutation and P H P = L L^T, H^-1 = (P L^-1 P)^T (P L^-1 P), so U = P L^-1 P: one Cholesky
 * and one triangular inverse instead of the reference code's Cholesky, cholesky_inverse and a
 * second Cholesky. `h` is overwritten.
 */
export function inverseCholeskyUpper(h: Float64Array, n: number): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)];
  // Lower Cholesky in place (row-oriented).
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let sum = a[ri + j];
      for (let k = 0; k < j; k++) sum -= a[ri + k] * a[rj + k];
      if (i === j) {
        if (!(sum > 0)) throw new PruneError(`sparsegpt: the Hessian is not positive definite at ${n - 1 - i} (raise damp)`);
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
  const u = h;
  u.fill(0);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) u[i * n + j] = inv[(n - 1 - i) * n + (n - 1 - j)];
  return u;
}

/**
 * Prunes W [rows = in, cols = out] in place given H = sum of x x^T over calibration tokens
 * (any positive scale: the dampening is relative and the update scale-free). Returns the
 * keep-mask; pruned weights are written as 0 and the kept ones carry the OBS update.
 * Unstructured sparsity picks, per block of rows, the lowest w^2 / [H^-1]_ii^2 of the block
 * (the paper's adaptive mask selection), with block counts that add up to exactly round(s*n).
 */
export function sparseGptPrune(w: Float32Array, rows: number, cols: number, hessian: Float64Array, sparsity: number, options: SparseGptOptions = SPARSEGPT_DEFAULTS): Bitmask {
  if (w.length !== rows * cols || hessian.length !== rows * rows) throw new PruneError(`sparsegpt: a ${rows}x${cols} weight needs a ${rows}x${rows} Hessian`);
  const { nm, blockSize, damp } = options;
  if (nm && rows % nm.m !== 0) throw new PruneError(`sparsegpt: ${rows} inputs do not split into groups of ${nm.m}`);
  if (nm && blockSize % nm.m !== 0) throw new PruneError(`sparsegpt: block size ${blockSize} is not a multiple of M = ${nm.m}`);
  const h = Float64Array.from(hessian);
  const W = Float64Array.from(w);
  // Dead inputs (never nonzero in calibration): their weights cannot matter, so they go to 0
  // and H gets a 1 on the diagonal to stay invertible (reference code).
  let diagSum = 0;
  for (let i = 0; i < rows; i++) {
    if (h[i * rows + i] === 0) {
      h[i * rows + i] = 1;
      W.fill(0, i * cols, (i + 1) * cols);
    }
    diagSum += h[i * rows + i];
  }
  const lambda = (damp * diagSum) / rows;
  for (let i = 0; i < rows; i++) h[i * rows + i] += lambda;
  const u = inverseCholeskyUpper(h, rows);
  const mask = Bitmask.full(rows * cols);
  const total = rows * cols;
  let before = 0;
  const err = new Float64Array(blockSize * cols);
  for (let i1 = 0; i1 < rows; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, rows);
    if (!nm) {
      const count = prunedCount(sparsity, i2 * cols) - prunedCount(sparsity, before);
      before = i2 * cols;
      pruneLowest(W, u, rows, cols, i1, i2, count, mask);
    }
    for (let i = i1; i < i2; i++) {
      if (nm && (i - i1) % nm.m === 0) pruneNM(W, u, rows, cols, i, nm, mask);
      const d = u[i * rows + i];
      const e = err.subarray((i - i1) * cols, (i - i1 + 1) * cols);
      const ri = i * cols;
      for (let o = 0; o < cols; o++) {
        const at = ri + o;
        const q = mask.get(at) ? W[at] : 0;
        e[o] = (W[at] - q) / d;
        W[at] = q;
      }
      // Update the rest of the block now; rows past it wait for the lazy batch update.
      for (let r = i + 1; r < i2; r++) {
        const f = u[i * rows + r];
        if (f === 0) continue;
        const rr = r * cols;
        for (let o = 0; o < cols; o++) W[rr + o] -= e[o] * f;
      }
    }
    for (let r = i2; r < rows; r++) {
      const rr = r * cols;
      for (let i = i1; i < i2; i++) {
        const f = u[i * rows + r];
        if (f === 0) continue;
        const e = (i - i1) * cols;
        for (let o = 0; o < cols; o++) W[rr + o] -= err[e + o] * f;
      }
    }
  }
  for (let k = 0; k < total; k++) w[k] = mask.get(k) ? W[k] : 0;
  return mask;
}

/** Prunes the `count` lowest w^2 / U_ii^2 among rows [i1, i2) (ties: lower index first). */
function pruneLowest(W: Float64Array, u: Float64Array, rows: number, cols: number, i1: number, i2: number, count: number, mask: Bitmask): void {
  if (count <= 0) return;
  const n = (i2 - i1) * cols;
  const scores = new Float64Array(n);
  for (let i = i1; i < i2; i++) {
    const d = u[i * rows + i];
    for (let o = 0; o < cols; o++) {
      const v = W[i * cols + o];
      scores[(i - i1) * cols + o] = (v * v) / (d * d);
    }
  }
  const order = new Int32Array(n);
  for (let k = 0; k < n; k++) order[k] = k;
  order.sort((a, b) => scores[a] - scores[b] || a - b);
  for (let k = 0; k < count; k++) mask.prune(i1 * cols + order[k]);
}

/** In each output, prunes the m-n lowest w^2 / U_ii^2 of inputs [i, i+m) (reference code's topk). */
function pruneNM(W: Float64Array, u: Float64Array, rows: number, cols: number, i: number, nm: { n: number; m: number }, mask: Bitmask): void {
  const drop = nm.m - nm.n;
  if (drop === 0) return;
  const scores = new Float64Array(nm.m);
  const order = new Int32Array(nm.m);
  for (let o = 0; o < cols; o++) {
    for (let j = 0; j < nm.m; j++) {
      const d = u[(i + j) * rows + i + j];
      const v = W[(i + j) * cols + o];
      scores[j] = (v * v) / (d * d);
      order[j] = j;
    }
    order.sort((a, b) => scores[a] - scores[b] || a - b);
    for (let j = 0; j < drop; j++) mask.prune((i + order[j]) * cols + o);
  }
}
