/**
 * Type-inference rules for the ops that move and reshape data rather than compute on it:
 * shapes, reshapes, gathers, slices, concatenation, constants. infer-ops.ts lists them in OPS.
 */
import type { NodeProto } from "onnx-buf";
import { DataType } from "./dtype.ts";
import { attributeInt, attributeInts, getAttribute } from "./graph.ts";
import { addDim, divDim, mulDim, productDims, subDim, type Dim } from "./dims.ts";
import { broadcastShapes, fail, input, knownInts, normAxis, numbers, type InferContext, type Known, type Rule } from "./infer-rule.ts";

const shapeOp: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  if (!t.shape) return [{ dtype: DataType.INT64, shape: [ctx.fresh()] }];
  const rank = t.shape.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const start = clamp(attributeInt(node, "start", 0));
  const end = clamp(attributeInt(node, "end", rank));
  const dims = t.shape.slice(start, Math.max(start, end));
  return [{ dtype: DataType.INT64, shape: [dims.length], known: { shape: [dims.length], values: dims } }];
};

const size: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  return [{ dtype: DataType.INT64, shape: [], known: t.shape ? { shape: [], values: [productDims(t.shape)] } : undefined }];
};

const reshape: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  const target = knownInts(node, ctx, 1) ?? numbers(getAttribute(node, "shape")?.ints.map(Number));
  const shapeType = ctx.typeOf(node.input[1] ?? "");
  const k = ctx.knownOf(node.input[0]);
  if (!target) {
    const rank = shapeType?.shape?.[0];
    return [{ dtype: t.dtype, shape: typeof rank === "number" ? Array.from({ length: rank }, () => ctx.fresh()) : undefined }];
  }
  const allowZero = attributeInt(node, "allowzero", 0) === 1;
  const out: Dim[] = target.map((d, i) => (d === 0 && !allowZero ? (t.shape?.[i] ?? ctx.fresh()) : d));
  const minus = out.indexOf(-1);
  if (minus >= 0) {
    const others = out.filter((_, i) => i !== minus);
    out[minus] = t.shape ? divDim(productDims(t.shape), productDims(others)) : ctx.fresh();
  }
  const numeric = numbers(out);
  return [{ dtype: t.dtype, shape: out, known: k && numeric ? { shape: numeric, values: k.values } : undefined }];
};

function axesOf(node: NodeProto, ctx: InferContext, inputIndex: number): number[] | undefined {
  const fromAttribute = attributeInts(node, "axes");
  if (fromAttribute) return fromAttribute;
  const values = knownInts(node, ctx, inputIndex);
  if (node.input[inputIndex] && !values) fail(node, ctx, "its axes input is not a constant; shapes cannot be inferred");
  return numbers(values);
}

const unsqueeze: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  const axes = axesOf(node, ctx, 1) ?? fail(node, ctx, "Unsqueeze has no axes");
  if (!t.shape) return [{ dtype: t.dtype }];
  const rank = t.shape.length + axes.length;
  const positions = new Set(axes.map((a) => normAxis(node, ctx, a, rank)));
  const out: Dim[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) out.push(positions.has(i) ? 1 : t.shape[j++]);
  const k = ctx.knownOf(node.input[0]);
  const numeric = numbers(out);
  return [{ dtype: t.dtype, shape: out, known: k && numeric ? { shape: numeric, values: k.values } : undefined }];
};

const squeeze: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  if (!t.shape) return [{ dtype: t.dtype }];
  const shape = t.shape;
  const axes = axesOf(node, ctx, 1);
  const drop = new Set(axes ? axes.map((a) => normAxis(node, ctx, a, shape.length)) : shape.flatMap((d, i) => (d === 1 ? [i] : [])));
  const out = shape.filter((_, i) => !drop.has(i));
  const k = ctx.knownOf(node.input[0]);
  const numeric = numbers(out);
  return [{ dtype: t.dtype, shape: out, known: k && numeric ? { shape: numeric, values: k.values } : undefined }];
};

const transpose: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  if (!t.shape) return [{ dtype: t.dtype }];
  const shape = t.shape;
  const perm = attributeInts(node, "perm") ?? shape.map((_, i) => shape.length - 1 - i);
  if (perm.length !== shape.length) fail(node, ctx, `perm has ${perm.length} entries for a rank-${shape.length} input`);
  return [{ dtype: t.dtype, shape: perm.map((p) => shape[p]) }];
};

const concat: Rule = (node, ctx) => {
  const types = node.input.map((_, i) => input(node, ctx, i));
  const first = types.find((t) => t.shape)?.shape;
  if (!first || types.some((t) => !t.shape)) return [{ dtype: types[0].dtype, shape: first ? first.map(() => ctx.fresh()) : undefined }];
  const axis = normAxis(node, ctx, attributeInt(node, "axis") ?? fail(node, ctx, "Concat has no axis"), first.length);
  const out = [...first];
  out[axis] = types.reduce<Dim>((sum, t) => addDim(sum, t.shape![axis]), 0);
  let known: Known | undefined;
  const ks = node.input.map((n) => ctx.knownOf(n));
  if (first.length === 1 && ks.every((k) => k)) {
    const values = ks.flatMap((k) => k!.values);
    known = { shape: [values.length], values };
  }
  return [{ dtype: types[0].dtype, shape: out, known }];
};

const gather: Rule = (node, ctx) => {
  const data = input(node, ctx, 0);
  const indices = input(node, ctx, 1);
  if (!data.shape || !indices.shape) return [{ dtype: data.dtype }];
  const axis = normAxis(node, ctx, attributeInt(node, "axis", 0), data.shape.length);
  const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
  const dk = ctx.knownOf(node.input[0]);
  const ik = numbers(knownInts(node, ctx, 1));
  let known: Known | undefined;
  if (dk && ik && dk.shape.length === 1) {
    const values = ik.map((i) => dk.values[i < 0 ? i + dk.shape[0] : i]);
    if (values.every((v) => v !== undefined)) known = { shape: ctx.knownOf(node.input[1])!.shape, values };
  }
  return [{ dtype: data.dtype, shape, known }];
};

const gatherElements: Rule = (node, ctx) => [{ dtype: input(node, ctx, 0).dtype, shape: input(node, ctx, 1).shape }];

const BIG = 2 ** 30;

/** Length of x[start:end:step] along a dimension; symbolic sizes assume in-range indices, as exporters emit them. */
function sliceLength(dim: Dim, start: Dim, end: Dim, step: number, ctx: InferContext): Dim {
  if (typeof dim === "number" && typeof start === "number" && typeof end === "number") {
    const clampIndex = (v: number, low: number, high: number) => Math.min(Math.max(v < 0 ? v + dim : v, low), high);
    const s = step > 0 ? clampIndex(start, 0, dim) : clampIndex(start, -1, dim - 1);
    const e = step > 0 ? clampIndex(end, 0, dim) : clampIndex(end, -1, dim - 1);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  // x[::-1] as exporters write it: start -1 (or huge), end very negative.
  if (step === -1 && (start === -1 || (typeof start === "number" && start >= BIG)) && typeof end === "number" && end <= -BIG) return dim;
  if (step !== 1) return ctx.fresh();
  const norm = (v: Dim) => (typeof v === "number" ? (v >= BIG ? dim : v < 0 ? (v <= -BIG ? 0 : addDim(dim, v)) : v) : v);
  return subDim(norm(end), norm(start));
}

const slice: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  if (!t.shape) return [{ dtype: t.dtype }];
  const shape = t.shape;
  const fromAttributes = ctx.opset < 10;
  const starts = fromAttributes ? attributeInts(node, "starts") : knownInts(node, ctx, 1);
  const ends = fromAttributes ? attributeInts(node, "ends") : knownInts(node, ctx, 2);
  const axes = numbers(fromAttributes ? attributeInts(node, "axes") : knownInts(node, ctx, 3)) ?? starts?.map((_, i) => i);
  const steps = numbers(fromAttributes ? undefined : knownInts(node, ctx, 4)) ?? starts?.map(() => 1);
  if (!starts || !ends || !axes || !steps) {
    return [{ dtype: t.dtype, shape: shape.map((d, i) => (axes?.includes(i) || axes?.includes(i - shape.length) ? ctx.fresh() : d)) }];
  }
  const out = [...shape];
  const ranges: { axis: number; start: Dim; end: Dim; step: number }[] = [];
  axes.forEach((a, i) => {
    const axis = normAxis(node, ctx, a, shape.length);
    out[axis] = sliceLength(shape[axis], starts[i], ends[i], steps[i], ctx);
    ranges.push({ axis, start: starts[i], end: ends[i], step: steps[i] });
  });
  let known: Known | undefined;
  const k = ctx.knownOf(node.input[0]);
  if (k && k.shape.length === 1 && ranges.length === 1 && typeof out[0] === "number") {
    const { start, step } = ranges[0];
    if (typeof start === "number") {
      const n = k.shape[0];
      let s = start < 0 ? start + n : start;
      s = step > 0 ? Math.min(Math.max(s, 0), n) : Math.min(Math.max(s, -1), n - 1);
      const values = Array.from({ length: out[0] }, (_, i) => k.values[s + i * step]);
      known = { shape: [values.length], values };
    }
  }
  return [{ dtype: t.dtype, shape: out, known }];
};

const split: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  const count = node.output.length;
  if (!t.shape) return node.output.map(() => ({ dtype: t.dtype }));
  const axis = normAxis(node, ctx, attributeInt(node, "axis", 0), t.shape.length);
  const sizes = attributeInts(node, "split") ?? knownInts(node, ctx, 1);
  if (node.input[1] && !sizes) return node.output.map(() => ({ dtype: t.dtype, shape: t.shape!.map((d, i) => (i === axis ? ctx.fresh() : d)) }));
  const parts: Dim[] = sizes ?? Array.from({ length: count }, () => divDim(t.shape![axis], count));
  const numOutputs = attributeInt(node, "num_outputs");
  if (!sizes && numOutputs !== undefined && typeof t.shape[axis] === "number") {
    // opset 18: equal chunks of ceil(dim / n), the last one smaller.
    const chunk = Math.ceil(t.shape[axis] / numOutputs);
    for (let i = 0; i < count; i++) parts[i] = Math.min(chunk, t.shape[axis] - chunk * i);
  }
  return parts.map((p) => ({ dtype: t.dtype, shape: t.shape!.map((d, i) => (i === axis ? p : d)) }));
};

const expand: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  const target = knownInts(node, ctx, 1);
  if (!target) {
    const rank = ctx.typeOf(node.input[1])?.shape?.[0];
    return [{ dtype: t.dtype, shape: typeof rank === "number" ? Array.from({ length: Math.max(rank, t.shape?.length ?? 0) }, () => ctx.fresh()) : undefined }];
  }
  return [{ dtype: t.dtype, shape: broadcastShapes([t.shape, target], ctx) }];
};

const tile: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  const repeats = knownInts(node, ctx, 1);
  if (!t.shape) return [{ dtype: t.dtype }];
  return [{ dtype: t.dtype, shape: t.shape.map((d, i) => (repeats ? mulDim(d, repeats[i]) : ctx.fresh())) }];
};

const range: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  const [start, limit, delta] = [0, 1, 2].map((i) => knownInts(node, ctx, i)?.[0]);
  if (typeof start === "number" && typeof limit === "number" && typeof delta === "number") {
    const n = Math.max(Math.ceil((limit - start) / delta), 0);
    const known = n <= 1024 ? { shape: [n], values: Array.from({ length: n }, (_, i) => start + i * delta) } : undefined;
    return [{ dtype: t.dtype, shape: [n], known }];
  }
  if (start !== undefined && limit !== undefined && delta === 1) return [{ dtype: t.dtype, shape: [subDim(limit, start)] }];
  return [{ dtype: t.dtype, shape: [ctx.fresh()] }];
};

const constantOfShape: Rule = (node, ctx) => {
  const value = getAttribute(node, "value")?.t;
  const dtype = value?.dataType ?? DataType.FLOAT;
  const target = knownInts(node, ctx, 0);
  if (!target) {
    const rank = ctx.typeOf(node.input[0])?.shape?.[0];
    return [{ dtype, shape: typeof rank === "number" ? Array.from({ length: rank }, () => ctx.fresh()) : undefined }];
  }
  const numeric = numbers(target);
  let known: Known | undefined;
  if (numeric && numeric.reduce((a, b) => a * b, 1) <= 1024) {
    const fill = value ? (ctx.tensorValues(value)?.values[0] ?? 0) : 0;
    known = { shape: numeric, values: Array.from({ length: numeric.reduce((a, b) => a * b, 1) }, () => fill) };
  }
  return [{ dtype, shape: target, known }];
};

const constant: Rule = (node, ctx) => {
  const a = node.attribute[0];
  if (!a) fail(node, ctx, "Constant has no value attribute");
  switch (a.name) {
    case "value": {
      const t = a.t ?? fail(node, ctx, "Constant 'value' holds no tensor");
      const shape = t.dims.map(Number);
      return [{ dtype: t.dataType, shape, known: ctx.tensorValues(t) }];
    }
    case "value_float":
      return [{ dtype: DataType.FLOAT, shape: [], known: { shape: [], values: [a.f] } }];
    case "value_floats":
      return [{ dtype: DataType.FLOAT, shape: [a.floats.length], known: { shape: [a.floats.length], values: [...a.floats] } }];
    case "value_int":
      return [{ dtype: DataType.INT64, shape: [], known: { shape: [], values: [Number(a.i)] } }];
    case "value_ints":
      return [{ dtype: DataType.INT64, shape: [a.ints.length], known: { shape: [a.ints.length], values: a.ints.map(Number) } }];
    default:
      return fail(node, ctx, `Constant attribute '${a.name}' is not supported`);
  }
};

/** Rules by op type for the data-movement ops. */
export const SHAPE_OPS: Record<string, Rule> = {
  Shape: shapeOp,
  Size: size,
  Reshape: reshape,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Transpose: transpose,
  Concat: concat,
  Gather: gather,
  GatherElements: gatherElements,
  Slice: slice,
  Split: split,
  Expand: expand,
  Tile: tile,
  Range: range,
  ConstantOfShape: constantOfShape,
  Constant: constant,
};
