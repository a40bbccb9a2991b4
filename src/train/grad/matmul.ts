/** Matrix products: batched, broadcasting MatMul and Gemm. */
import { broadcastShape, unbroadcast } from "./broadcast.ts";
import type { GradRule } from "./types.ts";

function swapLast(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return perm;
}

export const MatMul: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const [a, b] = ctx.node.input;
    const e = ctx.e;
    const dy = ctx.dy()!;
    const sa = ctx.shape(a);
    const sb = ctx.shape(b);
    if (sa.length < 2 || sb.length < 2) throw ctx.fail(`MatMul of a rank-${Math.min(sa.length, sb.length)} operand is not supported (ranks ${sa.length} and ${sb.length})`);
    const batch = broadcastShape(sa.slice(0, -2), sb.slice(0, -2));
    const [m, k] = sa.slice(-2);
    const n = sb[sb.length - 1];
    let da: string | undefined;
    let db: string | undefined;
    if (ctx.wants(0)) {
      const full = e.op("MatMul", [dy, e.transpose(b, swapLast(sb.length))]);
      da = unbroadcast(e, full, [...batch, m, k], sa);
    }
    if (ctx.wants(1)) {
      if (sb.length === 2) {
        // x[..., K] @ W[K, N]: fold every leading axis into the rows, one GEMM instead of a batch of them.
        const rows = e.reshape(a, [-1, k]);
        const grads = e.reshape(dy, [-1, n]);
        db = e.op("Gemm", [rows, grads], { transA: 1 });
      } else {
        const full = e.op("MatMul", [e.transpose(a, swapLast(sa.length)), dy]);
        db = unbroadcast(e, full, [...batch, k, n], sb);
      }
    }
    return [da, db];
  },
};

/** Y = alpha * A' B' + beta * C, with A' = A^T when transA (and B' likewise). */
export const Gemm: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const [a, b, c] = ctx.node.input;
    const e = ctx.e;
    const dy = ctx.dy()!;
    const alpha = ctx.attrFloat("alpha", 1);
    const beta = ctx.attrFloat("beta", 1);
    const ta = ctx.attrInt("transA", 0);
    const tb = ctx.attrInt("transB", 0);
    const scale = { float: alpha };
    let da: string | undefined;
    let db: string | undefined;
    let dc: string | undefined;
    if (ctx.wants(0)) {
      // dA' = alpha dY B'^T; when transA, dA = (dA')^T = alpha B' dY^T.
      da = ta ? e.op("Gemm", [b, dy], { transA: tb, transB: 1, alpha: scale }) : e.op("Gemm", [dy, b], { transB: tb ? 0 : 1, alpha: scale });
    }
    if (ctx.wants(1)) {
      // dB' = alpha A'^T dY; when transB, dB = alpha dY^T A'.
      db = tb ? e.op("Gemm", [dy, a], { transA: 1, transB: ta, alpha: scale }) : e.op("Gemm", [a, dy], { transA: ta ? 0 : 1, alpha: scale });
    }
    if (c && ctx.wants(2)) {
      const summed = unbroadcast(e, dy, ctx.shape(ctx.node.output[0]), ctx.shape(c));
      dc = beta === 1 ? summed : e.mul(summed, e.scalar(beta));
    }
    return [da, db, dc];
  },
};
