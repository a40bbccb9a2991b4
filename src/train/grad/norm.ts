/** LayerNormalization (opset 17); the decomposed ReduceMean/Sub/Pow/Sqrt/Div form needs no rule of its own. */
import { normalizeAxis, unbroadcast } from "./broadcast.ts";
import type { GradRule } from "./types.ts";

export const LayerNormalization: GradRule = {
  differentiable: [0, 1, 2],
  grad(ctx) {
    const e = ctx.e;
    const [x, scale, bias] = ctx.node.input;
    if (ctx.dy(1) || ctx.dy(2)) throw ctx.fail("gradients through the Mean/InvStdDev outputs are not supported");
    const xs = ctx.shape(x);
    const axis = normalizeAxis(ctx.attrInt("axis", -1), xs.length);
    const eps = ctx.attrFloat("epsilon", 1e-5);
    const axes = Array.from({ length: xs.length - axis }, (_, i) => axis + i);
    const n = axes.reduce((p, a) => p * xs[a], 1);
    const mean = (v: string) => e.mul(e.reduceSum(v, axes, true), e.scalar(1 / n));
    const dy = ctx.dy(0)!;
    // Recomputed rather than taken from the optional outputs, which exports rarely keep.
    const xc = e.op("Sub", [x, mean(x)]);
    const variance = mean(e.mul(xc, xc));
    const rstd = e.op("Reciprocal", [e.op("Sqrt", [e.op("Add", [variance, e.scalar(eps)])])]);
    const xhat = e.mul(xc, rstd);
    const out: (string | undefined)[] = [undefined, undefined, undefined];
    if (ctx.wants(0)) {
      const g = e.mul(dy, scale);
      const inner = e.op("Sub", [e.op("Sub", [g, mean(g)]), e.mul(xhat, mean(e.mul(g, xhat)))]);
      out[0] = e.mul(rstd, inner);
    }
    if (ctx.wants(1)) out[1] = unbroadcast(e, e.mul(dy, xhat), xs, ctx.shape(scale));
    if (bias && ctx.wants(2)) out[2] = unbroadcast(e, dy, xs, ctx.shape(bias));
    return out;
  },
};
