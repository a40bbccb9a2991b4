/**
 * Gathers. An embedding lookup's gradient scatters rows back with reduction "add" (opset 16),
 * so a token that appears twice in a batch gets both contributions; a one-hot MatMul would do
 * the same at vocab x tokens cost.
 */
import { normalizeAxis } from "./broadcast.ts";
import { DataType } from "../../onnx/dtype.ts";
import type { GradContext, GradRule } from "./types.ts";

/** The indices as int64, negative ones (counting from the end, as the gathers allow) made positive. */
function wrappedIndices(ctx: GradContext, indices: string, size: number): string {
  const e = ctx.e;
  const idx = ctx.dtype(indices) === DataType.INT64 ? indices : e.op("Cast", [indices], { to: DataType.INT64 });
  return e.op("Where", [e.op("Less", [idx, e.int(0)]), e.op("Add", [idx, e.int(size)]), idx]);
}

export const Gather: GradRule = {
  differentiable: [0],
  grad(ctx) {
    const e = ctx.e;
    const [data, indices] = ctx.node.input;
    const ds = ctx.shape(data);
    const axis = normalizeAxis(ctx.attrInt("axis", 0), ds.length);
    if (axis !== 0) throw ctx.fail(`Gather gradient supports axis 0 (embedding lookups) only, not axis ${axis}`);
    const where = e.withAxes("Unsqueeze", wrappedIndices(ctx, indices, ds[0]), [-1]);
    return [e.op("ScatterND", [e.zeros(ds), where, ctx.dy()!], { reduction: "add" })];
  },
};

export const GatherElements: GradRule = {
  differentiable: [0],
  grad(ctx) {
    const e = ctx.e;
    const [data, indices] = ctx.node.input;
    const ds = ctx.shape(data);
    const axis = normalizeAxis(ctx.attrInt("axis", 0), ds.length);
    const idx = wrappedIndices(ctx, indices, ds[axis]);
    return [e.op("ScatterElements", [e.zeros(ds), idx, ctx.dy()!], { axis, reduction: "add" })];
  },
};
