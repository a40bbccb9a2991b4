/**
 * Emits the nodes of a training graph. Every value built here has a shape known at build time
 * (the training graph has static [batch, seq] shapes), so rules pass constant shapes to
 * Reshape/Expand/Pad instead of computing them in the graph.
 */
import { create } from "@bufbuild/protobuf";
import {
  NodeProtoSchema,
  TensorProtoSchema,
  type NodeProto,
  type TensorProto,
} from "onnx-buf";
import { DataType } from "../onnx/dtype.ts";
import { makeAttribute, type AttributeValue } from "../onnx/emit.ts";

/** Attribute values of emitted nodes (src/onnx/graph.ts's, one way to build attributes). */
export type Attr = AttributeValue;

export function floatTensor(name: string, values: ArrayLike<number>, dims: number[]): TensorProto {
  const data = Float32Array.from(values);
  return create(TensorProtoSchema, { name, dataType: DataType.FLOAT, dims: dims.map(BigInt), rawData: new Uint8Array(data.buffer) });
}

export function int64Tensor(name: string, values: readonly number[], dims: number[] = [values.length]): TensorProto {
  const data = BigInt64Array.from(values, (v) => BigInt(v));
  return create(TensorProtoSchema, { name, dataType: DataType.INT64, dims: dims.map(BigInt), rawData: new Uint8Array(data.buffer) });
}

export class Emitter {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private counter = 0;
  private readonly constants = new Map<string, string>();

  constructor(
    /** Prefix of every emitted name; chosen to be free in the graph. */
    readonly prefix: string,
    readonly opset: number,
  ) {}

  fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  /** Adds one node and returns its outputs' names. */
  node(opType: string, inputs: string[], attrs: Record<string, Attr | undefined> = {}, outputs = 1): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(opType));
    this.nodes.push(
      create(NodeProtoSchema, {
        name: this.fresh(`${opType}_node`),
        opType,
        input: inputs,
        output: names,
        attribute: Object.entries(attrs)
          .filter((e): e is [string, Attr] => e[1] !== undefined)
          .map(([k, v]) => makeAttribute(k, v)),
      }),
    );
    return names;
  }

  op(opType: string, inputs: string[], attrs: Record<string, Attr | undefined> = {}): string {
    return this.node(opType, inputs, attrs, 1)[0];
  }

  /** An fp32 constant (scalar by default), shared between uses. */
  scalar(value: number, dims: number[] = []): string {
    const key = `f${value}:${dims.join(",")}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.fresh("const");
      this.initializers.push(floatTensor(name, Array(dims.reduce((a, b) => a * b, 1)).fill(value), dims));
      this.constants.set(key, name);
    }
    return name;
  }

  ints(values: readonly number[]): string {
    const key = `i${values.join(",")}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.fresh("ints");
      this.initializers.push(int64Tensor(name, values));
      this.constants.set(key, name);
    }
    return name;
  }

  /** A 0-d int64 constant. */
  int(value: number): string {
    const key = `s${value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.fresh("int");
      this.initializers.push(int64Tensor(name, [value], []));
      this.constants.set(key, name);
    }
    return name;
  }

  zeros(shape: number[]): string {
    return this.op("Expand", [this.scalar(0), this.ints(shape)]);
  }

  reshape(x: string, shape: number[]): string {
    return this.op("Reshape", [x, this.ints(shape)]);
  }

  transpose(x: string, perm: number[]): string {
    return this.op("Transpose", [x], { perm });
  }

  /** ReduceSum with axes as an input (opset 13+) or an attribute (before). */
  reduceSum(x: string, axes: number[], keepdims: boolean): string {
    if (axes.length === 0) return x;
    if (this.opset >= 13) return this.op("ReduceSum", [x, this.ints(axes)], { keepdims: keepdims ? 1 : 0 });
    return this.op("ReduceSum", [x], { axes, keepdims: keepdims ? 1 : 0 });
  }

  /**
   * Sums a gradient of broadcast shape `from` back to an operand's shape `to` (numpy rules:
   * leading axes the operand lacks, and axes where it has size 1).
   */
  unbroadcast(g: string, from: readonly number[], to: readonly number[]): string {
    if (sameShape(from, to)) return g;
    const lead = from.length - to.length;
    const axes: number[] = [];
    for (let i = 0; i < from.length; i++) {
      if (i < lead) axes.push(i);
      else if (to[i - lead] === 1 && from[i] !== 1) axes.push(i);
    }
    return this.reshape(this.reduceSum(g, axes, true), [...to]);
  }

  mul(a: string, b: string): string {
    return this.op("Mul", [a, b]);
  }
}

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
