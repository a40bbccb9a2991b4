import type { NodeProto, TensorProto } from "onnx-buf";
import { DataType, isFloatType } from "./dtype.ts";
import { OnnxFormatError } from "./errors.ts";
import { attributeInt, attributeInts, describe, getAttribute } from "./graph.ts";
import { addDim, divDim, mulDim, productDims, subDim, type Dim } from "./dims.ts";

/** A tensor's values when known before a run: shape constants and sizes, symbolic or numeric. */
export interface Known {
  shape: number[];
  values: Dim[];
}

export interface OpResult {
  dtype: number;
  shape?: Dim[];
  known?: Known;
}

export interface InferContext {
  opset: number;
  file: string;
  typeOf(name: string): { dtype: number; shape?: Dim[] } | undefined;
  knownOf(name: string): Known | undefined;
  fresh(): string;
  tensorValues(tensor: TensorProto): Known | undefined;
}

/** Thrown when an input's type is unknown (an upstream op had no rule): the outputs stay untyped. */
export class UnknownInput extends Error {}

type Rule = (node: NodeProto, ctx: InferContext) => (OpResult | undefined)[];

function input(node: NodeProto, ctx: InferContext, i: number): { dtype: number; shape?: Dim[] } {
  const type = ctx.typeOf(node.input[i] ?? "");
  if (!type) throw new UnknownInput(`input ${i} of ${describe(node)} has no type`);
  return type;
}

function fail(node: NodeProto, ctx: InferContext, message: string): never {
  throw new OnnxFormatError(ctx.file, `node ${describe(node)}`, message);
}

function normAxis(node: NodeProto, ctx: InferContext, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(node, ctx, `axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Values of a known integer input (axes, shapes, sizes), undefined when not known ahead. */
function knownInts(node: NodeProto, ctx: InferContext, i: number): Dim[] | undefined {
  const name = node.input[i];
  if (!name) return undefined;
  return ctx.knownOf(name)?.values;
}

function numbers(values: Dim[] | undefined): number[] | undefined {
  return values && values.every((v) => typeof v === "number") ? (values as number[]) : undefined;
}

/** numpy broadcasting of symbolic shapes. Where two different symbols meet, the first is kept. */
export function broadcastShapes(shapes: (Dim[] | undefined)[], ctx: InferContext): Dim[] | undefined {
  if (shapes.some((s) => !s)) return undefined;
  const all = shapes as Dim[][];
  const rank = Math.max(...all.map((s) => s.length));
  const out: Dim[] = [];
  for (let k = 0; k < rank; k++) {
    const dims = all.map((s) => s[s.length - rank + k]).filter((d): d is Dim => d !== undefined);
    const numeric = dims.find((d) => typeof d === "number" && d !== 1);
    const symbolic = dims.find((d) => typeof d === "string");
    out.push(numeric ?? symbolic ?? (dims.length ? 1 : ctx.fresh()));
  }
  return out;
}

function same(node: NodeProto, ctx: InferContext): OpResult[] {
  const t = input(node, ctx, 0);
  return [{ dtype: t.dtype, shape: t.shape, known: ctx.knownOf(node.input[0]) }];
}

const unary: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  return [{ dtype: t.dtype, shape: t.shape }];
};

// ------------------------------------------------------------------ elementwise value folding

type Fold = (values: Dim[], dtype: number) => Dim | undefined;

function foldKnown(node: NodeProto, ctx: InferContext, fold: Fold, dtype: number): Known | undefined {
  const ins = node.input.map((n) => ctx.knownOf(n));
  if (ins.length === 0 || ins.some((k) => !k)) return undefined;
  const known = ins as Known[];
  const rank = Math.max(...known.map((k) => k.shape.length));
  const shape: number[] = [];
  for (let d = 0; d < rank; d++) shape.push(Math.max(...known.map((k) => k.shape[k.shape.length - rank + d] ?? 1)));
  const total = shape.reduce((a, b) => a * b, 1);
  const out: Dim[] = [];
  for (let flat = 0; flat < total; flat++) {
    const args = known.map((k) => {
      let index = 0;
      let rest = flat;
      let stride = 1;
      for (let d = rank - 1; d >= 0; d--) {
        const coord = rest % shape[d];
        rest = Math.floor(rest / shape[d]);
        const kd = d - (rank - k.shape.length);
        if (kd >= 0) {
          if (k.shape[kd] !== 1) index += coord * stride;
          stride *= k.shape[kd];
        }
      }
      return k.values[index];
    });
    const v = fold(args, dtype);
    if (v === undefined || (typeof v === "number" && Number.isNaN(v))) return undefined;
    out.push(v);
  }
  return { shape, values: out };
}

const isInt = (dtype: number) => !isFloatType(dtype);
const num = (f: (...xs: number[]) => number | boolean): Fold => (xs) => (xs.every((x) => typeof x === "number") ? Number(f(...(xs as number[]))) : undefined);

const FOLDS: Record<string, Fold> = {
  Add: ([a, b]) => addDim(a, b),
  Sub: ([a, b]) => subDim(a, b),
  Mul: ([a, b]) => mulDim(a, b),
  Div: ([a, b], dtype) => (isInt(dtype) ? divDim(a, b) : typeof a === "number" && typeof b === "number" ? a / b : undefined),
  Equal: ([a, b]) => (a === b ? 1 : typeof a === "number" && typeof b === "number" ? 0 : undefined),
  Less: num((a, b) => a < b),
  Greater: num((a, b) => a > b),
  LessOrEqual: num((a, b) => a <= b),
  GreaterOrEqual: num((a, b) => a >= b),
  Max: num((...xs) => Math.max(...xs)),
  Min: num((...xs) => Math.min(...xs)),
  Not: num((a) => !a),
  Neg: ([a]) => (typeof a === "number" ? -a : undefined),
  Abs: num((a) => Math.abs(a)),
  Where: ([c, x, y]) => (typeof c === "number" ? (c ? x : y) : undefined),
};

const BOOL_OPS = new Set(["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "IsNaN", "IsInf"]);

const elementwise: Rule = (node, ctx) => {
  const types = node.input.map((_, i) => input(node, ctx, i));
  const valueIndex = node.opType === "Where" ? 1 : 0;
  const dtype = BOOL_OPS.has(node.opType) ? DataType.BOOL : types[valueIndex].dtype;
  const shape = broadcastShapes(
    types.map((t) => t.shape),
    ctx,
  );
  const fold = FOLDS[node.opType];
  return [{ dtype, shape, known: fold ? foldKnown(node, ctx, fold, types[valueIndex].dtype) : undefined }];
};

// ------------------------------------------------------------------------------ shape ops

function castValue(v: Dim, to: number): Dim | undefined {
  if (typeof v !== "number") return isInt(to) && to !== DataType.BOOL ? v : undefined;
  if (to === DataType.BOOL) return v ? 1 : 0;
  return isInt(to) ? Math.trunc(v) : v;
}

const cast: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  const to = attributeInt(node, "to");
  if (to === undefined) fail(node, ctx, "Cast has no 'to' attribute");
  const k = ctx.knownOf(node.input[0]);
  const values = k?.values.map((v) => castValue(v, to));
  return [{ dtype: to, shape: t.shape, known: k && values && values.every((v) => v !== undefined) ? { shape: k.shape, values: values as Dim[] } : undefined }];
};

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

// --------------------------------------------------------------------------- linear algebra

const matmul: Rule = (node, ctx) => {
  const a = input(node, ctx, 0);
  const b = input(node, ctx, 1);
  if (!a.shape || !b.shape) return [{ dtype: a.dtype }];
  const as = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  const bs = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
  const batch = broadcastShapes([as.slice(0, -2), bs.slice(0, -2)], ctx)!;
  const out = [...batch, as[as.length - 2], bs[bs.length - 1]];
  if (b.shape.length === 1) out.pop();
  if (a.shape.length === 1) out.splice(out.length - (b.shape.length === 1 ? 1 : 2), 1);
  return [{ dtype: a.dtype, shape: out }];
};

const gemm: Rule = (node, ctx) => {
  const a = input(node, ctx, 0);
  const b = input(node, ctx, 1);
  if (!a.shape || !b.shape) return [{ dtype: a.dtype }];
  const m = attributeInt(node, "transA", 0) ? a.shape[1] : a.shape[0];
  const n = attributeInt(node, "transB", 0) ? b.shape[0] : b.shape[1];
  return [{ dtype: a.dtype, shape: [m, n] }];
};

/** ReduceSum took axes as an input from opset 13, the other reductions from opset 18. */
const reduce: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  if (!t.shape) return [{ dtype: t.dtype }];
  const shape = t.shape;
  const keep = attributeInt(node, "keepdims", 1) === 1;
  let axes = attributeInts(node, "axes");
  if (!axes && node.input[1]) axes = numbers(knownInts(node, ctx, 1)) ?? fail(node, ctx, "its axes input is not a constant; shapes cannot be inferred");
  if (!axes || axes.length === 0) {
    if (attributeInt(node, "noop_with_empty_axes", 0) === 1) return [{ dtype: t.dtype, shape }];
    axes = shape.map((_, i) => i);
  }
  const set = new Set(axes.map((a) => normAxis(node, ctx, a, shape.length)));
  const out = keep ? shape.map((d, i) => (set.has(i) ? 1 : d)) : shape.filter((_, i) => !set.has(i));
  return [{ dtype: t.dtype, shape: out }];
};

const layerNorm: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  const stash = attributeInt(node, "stash_type", DataType.FLOAT);
  if (!t.shape) return [{ dtype: t.dtype }, { dtype: stash }, { dtype: stash }];
  const axis = normAxis(node, ctx, attributeInt(node, "axis", -1), t.shape.length);
  const stats = t.shape.map((d, i) => (i < axis ? d : 1));
  return [{ dtype: t.dtype, shape: t.shape }, { dtype: stash, shape: stats }, { dtype: stash, shape: stats }];
};

const dropout: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  return [{ dtype: t.dtype, shape: t.shape }, { dtype: DataType.BOOL, shape: t.shape }];
};

const castLike: Rule = (node, ctx) => [{ dtype: input(node, ctx, 1).dtype, shape: input(node, ctx, 0).shape }];

const skipLayerNorm: Rule = (node, ctx) => {
  const t = input(node, ctx, 0);
  return [{ dtype: t.dtype, shape: t.shape }, undefined, undefined, { dtype: t.dtype, shape: t.shape }];
};

const UNARY = [
  "Sqrt", "Erf", "Tanh", "Relu", "Sigmoid", "Exp", "Log", "Reciprocal", "Floor", "Ceil", "Round", "Sign",
  "Softmax", "LogSoftmax", "Trilu", "Gelu", "Elu", "LeakyRelu", "HardSigmoid", "Softplus", "Sin", "Cos",
  "com.microsoft:FastGelu", "com.microsoft:BiasGelu", "com.microsoft:Gelu", "com.microsoft:QuickGelu",
];
const ELEMENTWISE = [
  "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
  "And", "Or", "Xor", "Not", "Where", "Max", "Min", "Sum", "Mean", "Neg", "Abs", "IsNaN", "IsInf",
];

/** Rules by op type (`domain:op` outside the default domain). */
export const OPS: Record<string, Rule> = {
  ...Object.fromEntries(UNARY.map((op) => [op, unary])),
  ...Object.fromEntries(ELEMENTWISE.map((op) => [op, elementwise])),
  ...Object.fromEntries(["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare"].map((op) => [op, reduce])),
  Identity: same,
  Cast: cast,
  CastLike: castLike,
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
  MatMul: matmul,
  Gemm: gemm,
  LayerNormalization: layerNorm,
  Dropout: dropout,
  "com.microsoft:SkipLayerNormalization": skipLayerNorm,
  "com.microsoft:SkipSimplifiedLayerNormalization": skipLayerNorm,
};
