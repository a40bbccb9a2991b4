/**
 * Gathers. An embedding lookup's gradient scatters rows back with reduction "add" (opset 16),
 * so a token that appears twice in a batch gets both contributions; a one-hot MatMul would do
 * the same at vocab x tokens cost.
 */
import { normalizeAxis } from "../emit.ts";
import { DataType } from "../../onnx/dtype.ts";
import type { GradContext, GradRule } from "./types.ts";

function int64(ctx: GradContext, name: string): string {
  return ctx.dtype(name) === DataType.INT64 ? name : ctx.e.op("Cast", [name], { to: DataType.INT64 });
}

export const Gather: GradRule = {
  differentiable: [0],
  grad(ctx) {
    const e = ctx.e;
    const [data, indices] = ctx.node.input;
    const ds = ctx.shape(data);
    const axis = normalizeAxis(ctx.attrInt("axis", 0), ds.length);
    if (axis !== 0) throw ctx.fail(`Gather gradient supports axis 0 (embedding lookups) only, not axis ${axis}`);
    // Negative indices count from the end, as Gather allows.
    let idx = int64(ctx, indices);
    idx = e.op("Where", [e.op("Less", [idx, e.int(0)]), e.op("Add", [idx, e.int(ds[0])]), idx]);
    const where = e.op("Unsqueeze", e.opset >= 13 ? [idx, e.ints([-1])] : [idx], e.opset >= 13 ? {} : { axes: [-1] });
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
    let idx = int64(ctx, indices);
    idx = e.op("Where", [e.op("Less", [idx, e.int(0)]), e.op("Add", [idx, e.int(ds[axis])]), idx]);
    return [e.op("ScatterElements", [e.zeros(ds), idx, ctx.dy()!], { axis, reduction: "add" })];
  },
};
