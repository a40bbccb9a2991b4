/**
 * Type-inference rules by op: elementwise math (with value folding for shape arithmetic), casts,
 * linear algebra, reductions and norms; the data-movement ops come from infer-shape-ops.ts.
 */
import type { NodeProto } from "onnx-buf";
import { DataType, isFloatType } from "./dtype.ts";
import { attributeInt, attributeInts } from "./graph.ts";
import { addDim, divDim, mulDim, subDim, type Dim } from "./dims.ts";
import { broadcastShapes, fail, input, knownInts, normAxis, numbers, type InferContext, type Known, type OpResult, type Rule } from "./infer-rule.ts";
import { SHAPE_OPS } from "./infer-shape-ops.ts";

export { broadcastShapes, UnknownInput, type InferContext, type Known, type OpResult } from "./infer-rule.ts";

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

// ------------------------------------------------------------------------------------- casts

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
  ...SHAPE_OPS,
  Identity: same,
  Cast: cast,
  CastLike: castLike,
  MatMul: matmul,
  Gemm: gemm,
  LayerNormalization: layerNorm,
  Dropout: dropout,
  "com.microsoft:SkipLayerNormalization": skipLayerNorm,
  "com.microsoft:SkipSimplifiedLayerNormalization": skipLayerNorm,
};
