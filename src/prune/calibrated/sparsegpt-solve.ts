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
import { selectSmallest } from "../select.ts";
import { inverseCholeskyUpper } from "./cholesky.ts";
import { gemm } from "./gemm.ts";
import { SweepArena } from "./sweep-kernel.ts";

export { inverseCholeskyUpper };

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
 * Prunes W [rows = in, cols = out] in place given H = sum of x x^T over calibration tokens
 * (any positive scale: the dampening is relative and the update scale-free). Returns the
 * keep-mask; pruned weights are written as 0 and the kept ones carry the OBS update.
 * Unstructured sparsity picks, per block of rows, the lowest w^2 / [H^-1]_ii^2 of the block
 * (the paper's adaptive mask selection), with block counts that add up to exactly round(s*n).
 *
 * float32 throughout, as the reference code: the factor U (cholesky.ts), the in-block sweep
 * (a WebAssembly kernel, sweep.wat) and the lazy update of the rows past each block, one
 * matrix product run by onnxruntime. `w` is only written once the factor exists, so an
 * indefinite Hessian leaves it as it was.
 */
export async function sparseGptPrune(w: Float32Array, rows: number, cols: number, hessian: Float64Array, sparsity: number, options: SparseGptOptions = SPARSEGPT_DEFAULTS): Promise<Bitmask> {
  if (w.length !== rows * cols || hessian.length !== rows * rows) throw new PruneError(`sparsegpt: a ${rows}x${cols} weight needs a ${rows}x${rows} Hessian`);
  const { nm, blockSize, damp } = options;
  if (nm && rows % nm.m !== 0) throw new PruneError(`sparsegpt: ${rows} inputs do not split into groups of ${nm.m}`);
  if (nm && blockSize % nm.m !== 0) throw new PruneError(`sparsegpt: block size ${blockSize} is not a multiple of M = ${nm.m}`);
  // Dead inputs (never nonzero in calibration): their weights cannot matter, so they go to 0
  // and H gets a 1 on the diagonal to stay invertible (reference code).
  const dead: number[] = [];
  let diagSum = 0;
  for (let i = 0; i < rows; i++) {
    const d = hessian[i * rows + i];
    if (d === 0) dead.push(i);
    diagSum += d === 0 ? 1 : d;
  }
  const lambda = (damp * diagSum) / rows;
  const h = new Float32Array(rows * rows);
  for (let k = 0; k < h.length; k++) h[k] = hessian[k];
  for (let i = 0; i < rows; i++) h[i * rows + i] = (hessian[i * rows + i] || 1) + lambda;
  const u = await inverseCholeskyUpper(h, rows);
  for (const i of dead) w.fill(0, i * cols, (i + 1) * cols);
  const mask = Bitmask.full(rows * cols);
  const arena = new SweepArena(Math.min(blockSize, rows), cols);
  const { ld } = arena;
  let before = 0;
  for (let i1 = 0; i1 < rows; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, rows);
    const b = i2 - i1;
    for (let r = 0; r < b; r++) {
      arena.w.set(w.subarray((i1 + r) * cols, (i1 + r + 1) * cols), r * ld);
      arena.u.set(u.subarray((i1 + r) * rows + i1, (i1 + r) * rows + i2), r * b);
    }
    arena.m.fill(1, 0, b * ld);
    if (!nm) {
      const count = prunedCount(sparsity, i2 * cols) - prunedCount(sparsity, before);
      before = i2 * cols;
      pruneLowest(arena, b, cols, count, `sparsegpt scores of rows ${i1}..${i2 - 1}`);
      arena.sweep(b, 0, b);
    } else {
      for (let g = 0; g < b; g += nm.m) {
        pruneNM(arena, b, cols, g, nm);
        arena.sweep(b, g, g + nm.m);
      }
    }
    for (let r = 0; r < b; r++) {
      const row = (i1 + r) * cols;
      for (let o = 0; o < cols; o++) {
        if (arena.m[r * ld + o] === 0) {
          mask.prune(row + o);
          w[row + o] = 0;
        } else {
          w[row + o] = arena.w[r * ld + o];
        }
      }
    }
    if (i2 < rows) await lazyUpdate(w, u, rows, cols, i1, i2, arena);
  }
  return mask;
}

/** W[i2:, :] -= U[i1:i2, i2:]^T E: the block's errors applied to every row after it at once. */
async function lazyUpdate(w: Float32Array, u: Float32Array, rows: number, cols: number, i1: number, i2: number, arena: SweepArena): Promise<void> {
  const b = i2 - i1;
  const rest = rows - i2;
  const uRest = new Float32Array(b * rest);
  for (let r = 0; r < b; r++) uRest.set(u.subarray((i1 + r) * rows + i2, (i1 + r + 1) * rows), r * rest);
  let e = arena.e.subarray(0, b * cols);
  if (arena.ld !== cols) {
    e = new Float32Array(b * cols);
    for (let r = 0; r < b; r++) e.set(arena.e.subarray(r * arena.ld, r * arena.ld + cols), r * cols);
  }
  const tail = w.subarray(i2 * cols);
  tail.set(await gemm({ data: uRest, rows: b, cols: rest }, { data: e, rows: b, cols }, { transA: true, alpha: -1, c: { data: tail, rows: rest, cols } }));
}

/**
 * Prunes the `count` lowest w^2 / U_ii^2 of the block's b rows (ties: lower index first), by
 * the radix selection over the scores' float32 bits that magnitude pruning uses.
 */
function pruneLowest(arena: SweepArena, b: number, cols: number, count: number, name: string): void {
  if (count <= 0) return;
  const scores = new Float32Array(b * cols);
  for (let r = 0; r < b; r++) {
    const d = arena.u[r * b + r];
    const d2 = d * d;
    for (let o = 0; o < cols; o++) {
      const v = arena.w[r * arena.ld + o];
      scores[r * cols + o] = (v * v) / d2;
    }
  }
  const keys = new Uint32Array(scores.buffer);
  const { threshold, ties } = selectSmallest([{ name, keys }], Math.min(count, keys.length), { abs: true });
  let left = ties;
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k];
    if (key < threshold || (key === threshold && left-- > 0)) arena.m[Math.floor(k / cols) * arena.ld + (k % cols)] = 0;
  }
}

/** In each output, prunes the m-n lowest w^2 / U_ii^2 of the block's rows [g, g+m) (reference code's topk). */
function pruneNM(arena: SweepArena, b: number, cols: number, g: number, nm: { n: number; m: number }): void {
  const drop = nm.m - nm.n;
  if (drop === 0) return;
  const { ld } = arena;
  const scores = new Float64Array(nm.m);
  for (let o = 0; o < cols; o++) {
    for (let j = 0; j < nm.m; j++) {
      const d = arena.u[(g + j) * b + g + j];
      const v = arena.w[(g + j) * ld + o];
      scores[j] = (v * v) / (d * d);
    }
    // `drop` times the lowest remaining score, the lower index on ties.
    for (let k = 0; k < drop; k++) {
      let best = -1;
      for (let j = 0; j < nm.m; j++) if (scores[j] >= 0 && (best < 0 || scores[j] < scores[best])) best = j;
      scores[best] = -1;
      arena.m[(g + best) * ld + o] = 0;
    }
  }
}
