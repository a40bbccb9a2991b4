/**
 * Building graphs: the one way the project makes ONNX nodes, names, attributes, value infos and
 * constants. Every graph it builds or extends (training graphs, the AdamW graph, defused
 * contrib ops, loss graphs, calibration taps, structured rewrites, built models) emits through
 * an Emitter, whose names come from the graph's NameAllocator, so nothing it adds can take a
 * name the graph already uses, whoever added that name and whenever.
 */
import { create } from "@bufbuild/protobuf";
import {
  AttributeProto_AttributeType as AttributeType,
  AttributeProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type OperatorSetIdProto,
  type TensorProto,
  type ValueInfoProto,
} from "onnx-buf";
import { DataType } from "./dtype.ts";
import type { ValueType } from "./infer.ts";
import { namesOf } from "./names.ts";

export { NameAllocator, namesOf } from "./names.ts";

export { AttributeType };

// ---------------------------------------------------------------------------------------------
// Value infos, opsets, tensors

/**
 * The ValueInfoProto onnxruntime and onnx expect for a tensor of this type: numbers are fixed
 * sizes, strings symbolic ones (dim_param); no `shape` leaves the rank unknown, and no type at
 * all a bare name (an output whose type onnxruntime infers).
 */
export function valueInfoFor(name: string, type?: ValueType): ValueInfoProto {
  if (!type) return create(ValueInfoProtoSchema, { name });
  const tensorType = create(TypeProto_TensorSchema, {
    elemType: type.dtype,
    shape: type.shape
      ? create(TensorShapeProtoSchema, {
          dim: type.shape.map((d) =>
            create(TensorShapeProto_DimensionSchema, {
              value: typeof d === "number" ? { case: "dimValue", value: BigInt(d) } : { case: "dimParam", value: d },
            }),
          ),
        })
      : undefined,
  });
  return create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: "tensorType", value: tensorType } }) });
}

/**
 * A model around a graph the project built: IR version 8 (onnxruntime 1.14 on), the default
 * domain at `opset`, producer "prunebench"; `fields` adds or overrides the rest (producerVersion, docString).
 */
export function modelOf(graph: GraphProto, opset: number, fields: { producerVersion?: string; docString?: string } = {}): ModelProto {
  return create(ModelProtoSchema, { irVersion: 8n, producerName: "prunebench", ...fields, opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: BigInt(opset) })], graph });
}

/** The default domain, named "" or "ai.onnx" (onnxruntime's contrib ops are "com.microsoft"). */
export function isDefaultDomain(domain: string): boolean {
  return domain === "" || domain === "ai.onnx";
}

/** The model's import of the default domain, if any. */
export function defaultOpsetEntry(proto: ModelProto): OperatorSetIdProto | undefined {
  return proto.opsetImport.find((o) => isDefaultDomain(o.domain));
}

/** The version of the default (ai.onnx) domain the model imports, or 0 when it imports none. */
export function defaultOpset(proto: ModelProto): number {
  const entry = defaultOpsetEntry(proto);
  return entry ? Number(entry.version) : 0;
}

/**
 * The opset from which each op reads its axes from input 1 instead of an `axes` attribute
 * (ReduceSum, Squeeze and Unsqueeze moved at 13, the other reductions at 18).
 */
export const AXES_INPUT_SINCE: Readonly<Record<string, number>> = {
  ReduceSum: 13,
  Squeeze: 13,
  Unsqueeze: 13,
  ...Object.fromEntries(["ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp"].map((op) => [op, 18])),
};

/** The number types emitted constants come in, stored as raw little-endian bytes. */
export type ConstantType = DataType.FLOAT | DataType.DOUBLE | DataType.INT64;

/** A tensor of numbers (row-major), as raw_data; `dims` defaults to a vector of the values. */
export function constantTensor(name: string, dataType: ConstantType, values: ArrayLike<number>, dims: readonly number[] = [values.length]): TensorProto {
  const data =
    dataType === DataType.INT64 ? BigInt64Array.from(Array.from(values), (v) => BigInt(v)) : dataType === DataType.DOUBLE ? Float64Array.from(values) : Float32Array.from(values);
  return create(TensorProtoSchema, { name, dataType, dims: dims.map((d) => BigInt(d)), rawData: new Uint8Array(data.buffer) });
}

export function floatTensor(name: string, values: ArrayLike<number>, dims: readonly number[]): TensorProto {
  return constantTensor(name, DataType.FLOAT, values, dims);
}

export function int64Tensor(name: string, values: readonly number[], dims: readonly number[] = [values.length]): TensorProto {
  return constantTensor(name, DataType.INT64, values, dims);
}

// ---------------------------------------------------------------------------------------------
// Attributes

/** `{ float: x }` makes a FLOAT attribute of a whole number (1.0), as the builders write epsilons and scales. */
export type AttributeValue = number | bigint | string | number[] | bigint[] | string[] | { float: number } | TensorProto | GraphProto;

/** Builds an attribute; integral numbers become INT(S), as onnx.helper does for Python ints. */
export function makeAttribute(name: string, value: AttributeValue): AttributeProto {
  if (typeof value === "bigint") return create(AttributeProtoSchema, { name, type: AttributeType.INT, i: value });
  if (typeof value === "number") {
    if (Number.isInteger(value)) return create(AttributeProtoSchema, { name, type: AttributeType.INT, i: BigInt(value) });
    return create(AttributeProtoSchema, { name, type: AttributeType.FLOAT, f: value });
  }
  if (typeof value === "string") return create(AttributeProtoSchema, { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) });
  if (Array.isArray(value)) {
    if (value.length > 0 && typeof value[0] === "string") {
      return create(AttributeProtoSchema, { name, type: AttributeType.STRINGS, strings: (value as string[]).map((s) => new TextEncoder().encode(s)) });
    }
    const numbers = value as (number | bigint)[];
    if (numbers.every((v) => typeof v === "bigint" || Number.isInteger(v))) {
      return create(AttributeProtoSchema, { name, type: AttributeType.INTS, ints: numbers.map((v) => BigInt(v)) });
    }
    return create(AttributeProtoSchema, { name, type: AttributeType.FLOATS, floats: numbers.map(Number) });
  }
  if ("float" in value) return create(AttributeProtoSchema, { name, type: AttributeType.FLOAT, f: value.float });
  if (value.$typeName === "onnx.TensorProto") return create(AttributeProtoSchema, { name, type: AttributeType.TENSOR, t: value });
  return create(AttributeProtoSchema, { name, type: AttributeType.GRAPH, g: value });
}

/** Attributes of an emitted node; undefined values are left out. */
export type Attributes = Record<string, AttributeValue | undefined>;

function attributeList(attributes: Attributes = {}): AttributeProto[] {
  return Object.entries(attributes)
    .filter((e): e is [string, AttributeValue] => e[1] !== undefined)
    .map(([k, v]) => makeAttribute(k, v));
}

// ---------------------------------------------------------------------------------------------
// The emitter

export interface NewNode {
  opType: string;
  inputs: string[];
  /** Output names (reserved as they are); when left out, `count` fresh names derived from the node's name. */
  outputs?: string[];
  count?: number;
  /** Base for the node's unique name, after the emitter's prefix; defaults to the op type. */
  name?: string;
  domain?: string;
  attributes?: Attributes;
  /** Insert at this position of the node list; appended when left out. */
  index?: number;
}

export interface EmitterOptions {
  /** Starts every name the emitter makes up: node names, their default outputs, constants. */
  prefix?: string;
  /** The ai.onnx version the nodes are written for (where an op's inputs changed, as axes did). */
  opset?: number;
  /**
   * Where nodes and initializers go (default: the graph itself). Names are drawn against the
   * graph all the same, so what is emitted here can be merged into it later.
   */
  into?: { node: NodeProto[]; initializer: TensorProto[] };
}

/**
 * Emits nodes and constants into a graph (or lists meant for it). Before each node it takes in
 * whatever was added to the graph since the last one, so its names are free at the time they
 * are made, even where other code edits the graph between emits.
 */
export class Emitter {
  readonly prefix: string;
  private readonly into: { node: NodeProto[]; initializer: TensorProto[] };
  private readonly knownOpset: number | undefined;
  private readonly constants = new Map<string, string>();

  constructor(
    /** The graph whose names are avoided (and, unless `into` says otherwise, that is written). */
    readonly graph: GraphProto,
    options: EmitterOptions = {},
  ) {
    this.prefix = options.prefix ?? "";
    this.knownOpset = options.opset;
    this.into = options.into ?? graph;
  }

  get opset(): number {
    if (this.knownOpset === undefined) throw new Error("Emitter: an op whose form depends on the opset was emitted, but no opset was given");
    return this.knownOpset;
  }

  /** The nodes emitted so far (with the graph's own when the emitter writes the graph). */
  get nodes(): NodeProto[] {
    return this.into.node;
  }

  get initializers(): TensorProto[] {
    return this.into.initializer;
  }

  /** A name no element of the graph uses: the prefix, then `hint`, then a suffix where needed. */
  fresh(hint: string): string {
    return namesOf(this.graph).fresh(`${this.prefix}${hint}`);
  }

  /** Adds one node with a fresh name (and, unless given, fresh output names). */
  add(spec: NewNode): NodeProto {
    const names = namesOf(this.graph);
    const name = names.fresh(`${this.prefix}${spec.name ?? spec.opType}`);
    const outputs = spec.outputs ?? Array.from({ length: spec.count ?? 1 }, (_, i) => names.fresh(`${name}_output_${i}`));
    for (const o of outputs) names.reserve(o);
    // No domain field for the default one: proto2 writes a field set to its default, and the
    // built models keep the bytes torch.onnx.export gives them.
    const domain = spec.domain ? { domain: spec.domain } : {};
    const node = create(NodeProtoSchema, { name, opType: spec.opType, ...domain, input: spec.inputs, output: outputs, attribute: attributeList(spec.attributes) });
    if (spec.index === undefined) this.into.node.push(node);
    else this.into.node.splice(spec.index, 0, node);
    return node;
  }

  /** Adds one node and returns its outputs' names. */
  node(opType: string, inputs: string[], attributes: Attributes = {}, count = 1): string[] {
    return this.add({ opType, inputs, attributes, count }).output;
  }

  op(opType: string, inputs: string[], attributes: Attributes = {}): string {
    return this.node(opType, inputs, attributes, 1)[0];
  }

  /** An initializer of the given numbers under a fresh name from `hint` (not shared with other uses). */
  tensor(hint: string, dataType: ConstantType, values: ArrayLike<number>, dims: readonly number[] = [values.length]): string {
    const name = this.fresh(hint);
    this.into.initializer.push(constantTensor(name, dataType, values, dims));
    return name;
  }

  /** A constant initializer, one per distinct value among this emitter's uses. */
  constant(dataType: ConstantType, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `${dataType}:${dims.join(",")}:${values.join(",")}`;
    let name = this.constants.get(key);
    if (!name) this.constants.set(key, (name = this.tensor("const", dataType, values, dims)));
    return name;
  }

  /** An fp32 constant filled with `value` (a scalar by default). */
  scalar(value: number, dims: readonly number[] = []): string {
    return this.constant(DataType.FLOAT, Array<number>(dims.reduce((a, b) => a * b, 1)).fill(value), dims);
  }

  /** A 1-D int64 constant. */
  ints(values: readonly number[]): string {
    return this.constant(DataType.INT64, values);
  }

  /** A 0-d int64 constant. */
  int(value: number): string {
    return this.constant(DataType.INT64, [value], []);
  }

  /** A 0-d float64 constant. */
  double(value: number): string {
    return this.constant(DataType.DOUBLE, [value], []);
  }

  /** An op with axes, written as an input or as an attribute as the opset has it (AXES_INPUT_SINCE). */
  withAxes(opType: string, x: string, axes: readonly number[], attributes: Attributes = {}): string {
    const since = AXES_INPUT_SINCE[opType];
    if (since === undefined) throw new Error(`Emitter.withAxes: ${opType} takes no axes`);
    if (this.opset >= since) return this.op(opType, [x, this.ints(axes)], attributes);
    return this.op(opType, [x], { axes: [...axes], ...attributes });
  }

  /** ReduceSum over `axes` (none: x itself). */
  reduceSum(x: string, axes: readonly number[], keepdims: boolean): string {
    if (axes.length === 0) return x;
    return this.withAxes("ReduceSum", x, axes, { keepdims: keepdims ? 1 : 0 });
  }

  zeros(shape: readonly number[]): string {
    return this.op("Expand", [this.scalar(0), this.ints(shape)]);
  }

  reshape(x: string, shape: readonly number[]): string {
    return this.op("Reshape", [x, this.ints(shape)]);
  }

  transpose(x: string, perm: readonly number[]): string {
    return this.op("Transpose", [x], { perm: [...perm] });
  }

  mul(a: string, b: string): string {
    return this.op("Mul", [a, b]);
  }
}

/** Adds a node to the graph with a name (and, unless given, output names) no other element of it uses. */
export function addNode(graph: GraphProto, spec: NewNode): NodeProto {
  return new Emitter(graph).add(spec);
}
