/**
 * What every type-inference rule shares: the context a rule reads, its result, and the small
 * helpers for inputs, axes and known values. The rules are in infer-ops.ts and infer-shape-ops.ts.
 */
import type { NodeProto, TensorProto } from "onnx-buf";
import { OnnxFormatError } from "./errors.ts";
import { describe } from "./graph.ts";
import type { Dim } from "./dims.ts";

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

export type Rule = (node: NodeProto, ctx: InferContext) => (OpResult | undefined)[];

export function input(node: NodeProto, ctx: InferContext, i: number): { dtype: number; shape?: Dim[] } {
  const type = ctx.typeOf(node.input[i] ?? "");
  if (!type) throw new UnknownInput(`input ${i} of ${describe(node)} has no type`);
  return type;
}

export function fail(node: NodeProto, ctx: InferContext, message: string): never {
  throw new OnnxFormatError(ctx.file, `node ${describe(node)}`, message);
}

export function normAxis(node: NodeProto, ctx: InferContext, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(node, ctx, `axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Values of a known integer input (axes, shapes, sizes), undefined when not known ahead. */
export function knownInts(node: NodeProto, ctx: InferContext, i: number): Dim[] | undefined {
  const name = node.input[i];
  if (!name) return undefined;
  return ctx.knownOf(name)?.values;
}

export function numbers(values: Dim[] | undefined): number[] | undefined {
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
