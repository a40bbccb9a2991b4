/**
 * Gathers. An embedding lookup's gradient scatters rows back with reduction "add" (opset 16),
 * so a token that appears twice in a batch gets both contributions; a one-hot MatMul would do
 * the same at vocab x tokens cost.
 */
import { normalizeAxis } from "./broadcast.ts";
import { DataType } from "../../onnx/dtype.ts";
import type { GradContext, GradRule } from "./types.ts";

/**
 * What both gathers' gradients scatter with: the data's shape, the axis, and the indices as
 * int64 with negative ones (counting from the end, as the gathers allow) made positive.
 */
function gathered(ctx: GradContext): { shape: number[]; axis: number; indices: string } {
  const e = ctx.e;
  const [data, indices] = ctx.node.input;
  const shape = ctx.shape(data);
  const axis = normalizeAxis(ctx.attrInt("axis", 0), shape.length);
  if (ctx.node.opType === "Gather" && axis !== 0) throw ctx.fail(`Gather gradient supports axis 0 (embedding lookups) only, not axis ${axis}`);
  const idx = ctx.dtype(indices) === DataType.INT64 ? indices : e.op("Cast", [indices], { to: DataType.INT64 });
  return { shape, axis, indices: e.op("Where", [e.op("Less", [idx, e.int(0)]), e.op("Add", [idx, e.int(shape[axis])]), idx]) };
}

export const Gather: GradRule = {
  differentiable: [0],
  grad(ctx) {
    const { shape, indices } = gathered(ctx);
    const where = ctx.e.withAxes("Unsqueeze", indices, [-1]);
    return [ctx.e.op("ScatterND", [ctx.e.zeros(shape), where, ctx.dy()!], { reduction: "add" })];
  },
};

export const GatherElements: GradRule = {
  differentiable: [0],
  grad(ctx) {
    const { shape, axis, indices } = gathered(ctx);
    return [ctx.e.op("ScatterElements", [ctx.e.zeros(shape), indices, ctx.dy()!], { axis, reduction: "add" })];
  },
};
