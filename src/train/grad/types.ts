import type { NodeProto } from "onnx-buf";
import type { Emitter } from "../../onnx/emit.ts";

/** What a gradient rule sees of its node and the graph around it. */
export interface GradContext {
  node: NodeProto;
  e: Emitter;
  /** Gradient of output `i` (same shape as that output), or undefined when none flows back. */
  dy(i?: number): string | undefined;
  /** Whether input `i` needs a gradient. */
  wants(i: number): boolean;
  /** Static shape of any value of the forward graph. */
  shape(name: string): number[];
  /** Element type (ONNX DataType) of a forward value. */
  dtype(name: string): number;
  /** Values of a small integer tensor (constant, initializer, or known from the shape run). */
  ints(name: string): number[];
  attrInt(name: string, fallback: number): number;
  attrInts(name: string): number[] | undefined;
  attrFloat(name: string, fallback: number): number;
  /** A clear error about this node. */
  fail(message: string): Error;
}

export interface GradRule {
  /** Input positions through which gradient can flow; all others are data (indices, shapes, conditions). */
  differentiable: readonly number[] | "all";
  /** Returns the gradient of each input (index-aligned); undefined where not wanted. */
  grad(ctx: GradContext): (string | undefined)[];
}
