/** Reductions and (log-)softmax. */
import { AXES_INPUT_SINCE } from "../../onnx/emit.ts";
import { normalizeAxis } from "./broadcast.ts";
import type { GradContext, GradRule } from "./types.ts";

/** Axes of a Reduce* node: an attribute before the opset that moved them to input 1. */
function reduceAxes(ctx: GradContext): number[] {
  const rank = ctx.shape(ctx.node.input[0]).length;
  let axes: number[] | undefined;
  if (ctx.e.opset >= AXES_INPUT_SINCE[ctx.node.opType]) axes = ctx.node.input[1] ? ctx.ints(ctx.node.input[1]) : undefined;
  else axes = ctx.attrInts("axes");
  if (!axes || axes.length === 0) {
    if (ctx.attrInt("noop_with_empty_axes", 0)) return [];
    return Array.from({ length: rank }, (_, i) => i);
  }
  return axes.map((a) => normalizeAxis(a, rank)).sort((x, y) => x - y);
}

function spread(ctx: GradContext, axes: number[], scale: number): string {
  const e = ctx.e;
  const xs = ctx.shape(ctx.node.input[0]);
  let g = ctx.dy()!;
  if (!ctx.attrInt("keepdims", 1)) g = e.reshape(g, xs.map((d, i) => (axes.includes(i) ? 1 : d)));
  if (scale !== 1) g = e.mul(g, e.scalar(scale));
  return e.op("Expand", [g, e.ints(xs)]);
}

export const ReduceSum: GradRule = {
  differentiable: [0],
  grad: (ctx) => [spread(ctx, reduceAxes(ctx), 1)],
};

export const ReduceMean: GradRule = {
  differentiable: [0],
  grad(ctx) {
    const axes = reduceAxes(ctx);
    const xs = ctx.shape(ctx.node.input[0]);
    const n = axes.reduce((p, a) => p * xs[a], 1);
    return [spread(ctx, axes, 1 / n)];
  },
};

function softmaxAxis(ctx: GradContext): number {
  const rank = ctx.shape(ctx.node.input[0]).length;
  const axis = normalizeAxis(ctx.attrInt("axis", ctx.e.opset >= 13 ? -1 : 1), rank);
  // Before opset 13, softmax flattened everything from `axis` on; that equals a per-axis softmax only on the last axis.
  if (ctx.e.opset < 13 && axis !== rank - 1) throw ctx.fail(`opset ${ctx.e.opset} ${ctx.node.opType} over axis ${axis} of a rank-${rank} tensor is not supported`);
  return axis;
}

export const Softmax: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const e = ctx.e;
    const y = ctx.node.output[0];
    const dy = ctx.dy()!;
    const dot = e.reduceSum(e.mul(dy, y), [softmaxAxis(ctx)], true);
    return [e.mul(y, e.op("Sub", [dy, dot]))];
  },
};

export const LogSoftmax: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const e = ctx.e;
    const y = ctx.node.output[0];
    const dy = ctx.dy()!;
    const total = e.reduceSum(dy, [softmaxAxis(ctx)], true);
    return [e.op("Sub", [dy, e.mul(e.op("Exp", [y]), total)])];
  },
};
