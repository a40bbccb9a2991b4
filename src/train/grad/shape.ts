/** Ops that move values without changing them: gradients move them back. */
import { normalizeAxis } from "./broadcast.ts";
import type { GradContext, GradRule } from "./types.ts";

/** Reshape, Flatten, Squeeze, Unsqueeze: the gradient takes the input's shape again. */
const reshapeBack: GradRule = {
  differentiable: [0],
  grad: (ctx) => [ctx.e.reshape(ctx.dy()!, ctx.shape(ctx.node.input[0]))],
};
export const Reshape = reshapeBack;
export const Flatten = reshapeBack;
export const Squeeze = reshapeBack;
export const Unsqueeze = reshapeBack;

export const Transpose: GradRule = {
  differentiable: [0],
  grad(ctx) {
    const rank = ctx.shape(ctx.node.input[0]).length;
    const perm = ctx.attrInts("perm") ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    const inverse: number[] = [];
    perm.forEach((p, i) => (inverse[p] = i));
    return [ctx.e.transpose(ctx.dy()!, inverse)];
  },
};

export const Split: GradRule = {
  differentiable: [0],
  grad(ctx) {
    const e = ctx.e;
    const rank = ctx.shape(ctx.node.input[0]).length;
    const axis = normalizeAxis(ctx.attrInt("axis", 0), rank);
    const parts = ctx.node.output.map((name, i) => ctx.dy(i) ?? e.zeros(ctx.shape(name)));
    return [e.op("Concat", parts, { axis })];
  },
};

export const Concat: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const e = ctx.e;
    const dy = ctx.dy()!;
    const rank = ctx.shape(ctx.node.output[0]).length;
    const axis = normalizeAxis(ctx.attrInt("axis", 0), rank);
    let offset = 0;
    return ctx.node.input.map((name, i) => {
      const size = ctx.shape(name)[axis];
      const start = offset;
      offset += size;
      if (!ctx.wants(i)) return undefined;
      return e.op("Slice", [dy, e.ints([start]), e.ints([start + size]), e.ints([axis])]);
    });
  },
};

/** Resolved [start, end) per axis of a Slice with unit steps, clamped as the operator clamps. */
function sliceRanges(ctx: GradContext): { starts: number[]; ends: number[] } {
  const [data, startsName, endsName, axesName, stepsName] = ctx.node.input;
  const shape = ctx.shape(data);
  const opsetInputs = ctx.e.opset >= 10;
  const starts0 = opsetInputs ? ctx.ints(startsName) : ctx.attrInts("starts")!;
  const ends0 = opsetInputs ? ctx.ints(endsName) : ctx.attrInts("ends")!;
  const axes = (opsetInputs ? (axesName ? ctx.ints(axesName) : undefined) : ctx.attrInts("axes")) ?? starts0.map((_, i) => i);
  const steps = opsetInputs && stepsName ? ctx.ints(stepsName) : starts0.map(() => 1);
  const starts = shape.map(() => 0);
  const ends = [...shape];
  axes.forEach((a0, i) => {
    const a = normalizeAxis(a0, shape.length);
    if (steps[i] !== 1) throw ctx.fail(`Slice with step ${steps[i]} on axis ${a} is not supported (steps of 1 only)`);
    const dim = shape[a];
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    starts[a] = clamp(starts0[i]);
    ends[a] = Math.max(clamp(ends0[i]), starts[a]);
  });
  return { starts, ends };
}

export const Slice: GradRule = {
  differentiable: [0],
  grad(ctx) {
    const shape = ctx.shape(ctx.node.input[0]);
    const { starts, ends } = sliceRanges(ctx);
    const pads = [...starts, ...shape.map((d, i) => d - ends[i])];
    return [ctx.e.op("Pad", [ctx.dy()!, ctx.e.ints(pads)], { mode: "constant" })];
  },
};
