import { create } from "@bufbuild/protobuf";
import {
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "onnx-buf";
import { DataType } from "../../onnx/dtype.ts";
import { makeAttribute, valueInfoFor, type AttributeValue } from "../../onnx/emit.ts";

/** How a built weight's values are made. */
export type WeightInit =
  | { kind: "normal"; std: number }
  | { kind: "ones" }
  | { kind: "zeros" }
  /** Pegasus/Marian sinusoidal positions: sin in the first half of each row, cos in the second. */
  | { kind: "sinusoidal" }
  /** Lower-triangular boolean [1, 1, n, n] (a causal mask buffer). */
  | { kind: "causal" }
  /** The values of another weight, transposed: a tied LM head as exporters write it. */
  | { kind: "transposeOf"; source: string };

export interface WeightSpec {
  name: string;
  shape: number[];
  dataType: DataType;
  init: WeightInit;
}

type AttrValue = AttributeValue;

/** The opset built graphs use: what optimum exports at by default, with LayerNorm decomposed. */
export const BUILD_OPSET = 14;

/**
 * Builds a graph in the shape torch.onnx.export gives it: scoped node names, Constant nodes
 * for scalars and shapes, initializers for weights only. Weight values are not made here: the
 * specs are kept so they can be generated one by one when the model is written.
 */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly weights: WeightSpec[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  private scopes: string[] = [];
  private counts = new Map<string, number>();
  private matmulCounter = 0;

  scope<T>(name: string, body: () => T): T {
    this.scopes.push(name);
    try {
      return body();
    } finally {
      this.scopes.pop();
    }
  }

  input(name: string, dataType: DataType, dims: (string | number)[]): string {
    this.inputs.push(valueInfoFor(name, { dtype: dataType, shape: dims }));
    return name;
  }

  output(name: string, dataType: DataType, dims: (string | number)[]): void {
    this.outputs.push(valueInfoFor(name, { dtype: dataType, shape: dims }));
  }

  weight(name: string, shape: number[], init: WeightInit, dataType: DataType = DataType.FLOAT): string {
    this.weights.push({ name, shape, dataType, init });
    return name;
  }

  /** A name as torch gives a linear weight after constant folding transposed it. */
  foldedName(): string {
    return `onnx::MatMul_${1000 + this.matmulCounter++}`;
  }

  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs = 1, outputNames?: string[]): string[] {
    const prefix = this.scopes.length ? `/${this.scopes.join("/")}` : "";
    const key = `${prefix}/${opType}`;
    const n = this.counts.get(key) ?? 0;
    this.counts.set(key, n + 1);
    const name = `${key}${n ? `_${n}` : ""}`;
    const out = outputNames ?? Array.from({ length: outputs }, (_, i) => `${name}_output_${i}`);
    this.nodes.push(
      create(NodeProtoSchema, {
        name,
        opType,
        input: inputs,
        output: out,
        attribute: Object.entries(attrs).map(([k, v]) => makeAttribute(k, v)),
      }),
    );
    return out;
  }

  op1(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.op(opType, inputs, attrs)[0];
  }

  constInt(values: number[], scalar = false): string {
    const t = create(TensorProtoSchema, {
      dataType: DataType.INT64,
      dims: scalar ? [] : [BigInt(values.length)],
      int64Data: values.map((v) => BigInt(v)),
    });
    return this.op1("Constant", [], { value: t });
  }

  constFloat(value: number): string {
    const t = create(TensorProtoSchema, { dataType: DataType.FLOAT, dims: [], floatData: [value] });
    return this.op1("Constant", [], { value: t });
  }

  toModel(initializer: TensorProto[], docString: string): ModelProto {
    return create(ModelProtoSchema, {
      irVersion: 8n,
      producerName: "prunebench",
      producerVersion: "0.1.0",
      docString,
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: BigInt(BUILD_OPSET) })],
      graph: create(GraphProtoSchema, {
        name: "main_graph",
        node: this.nodes,
        initializer,
        input: this.inputs,
        output: this.outputs,
      }),
    });
  }
}

