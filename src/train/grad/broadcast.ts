/** Shapes of the training graph's values (static at build time) and the sums broadcasting asks of a gradient. */
import type { Emitter } from "../../onnx/emit.ts";

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** numpy broadcast of two shapes. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    out.push(x === 1 ? y : x);
  }
  return out;
}

export function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/**
 * Sums a gradient of broadcast shape `from` back to an operand's shape `to` (numpy rules:
 * leading axes the operand lacks, and axes where it has size 1).
 */
export function unbroadcast(e: Emitter, g: string, from: readonly number[], to: readonly number[]): string {
  if (sameShape(from, to)) return g;
  const lead = from.length - to.length;
  const axes: number[] = [];
  for (let i = 0; i < from.length; i++) {
    if (i < lead) axes.push(i);
    else if (to[i - lead] === 1 && from[i] !== 1) axes.push(i);
  }
  return e.reshape(e.reduceSum(g, axes, true), [...to]);
}
