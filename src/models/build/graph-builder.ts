import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema, TensorProtoSchema, type ModelProto, type NodeProto, type TensorProto } from "onnx-buf";
import { DataType } from "../../onnx/dtype.ts";
import { Emitter, modelOf, namesOf, valueInfoFor, type Attributes } from "../../onnx/emit.ts";

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

/** The opset built graphs use: what optimum exports at by default, with LayerNorm decomposed. */
export const BUILD_OPSET = 14;

/**
 * Builds a graph in the shape torch.onnx.export gives it: scoped node names, Constant nodes
 * for scalars and shapes, initializers for weights only. Weight values are not made here: the
 * specs are kept so they can be generated one by one when the model is written.
 */
export class GraphBuilder {
  /** Inputs and outputs; initializers are added when the model is made. */
  private readonly graph = create(GraphProtoSchema, { name: "main_graph" });
  /** The nodes, kept apart from the graph while it is built: only this builder writes them. */
  private readonly nodes: NodeProto[] = [];
  private readonly e = new Emitter(this.graph, { opset: BUILD_OPSET, into: { node: this.nodes, initializer: [] } });
  readonly weights: WeightSpec[] = [];
  private scopes: string[] = [];
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
    this.graph.input.push(valueInfoFor(name, { dtype: dataType, shape: dims }));
    return name;
  }

  output(name: string, dataType: DataType, dims: (string | number)[]): void {
    this.graph.output.push(valueInfoFor(name, { dtype: dataType, shape: dims }));
  }

  weight(name: string, shape: number[], init: WeightInit, dataType: DataType = DataType.FLOAT): string {
    namesOf(this.graph).reserve(name);
    this.weights.push({ name, shape, dataType, init });
    return name;
  }

  /** A name as torch gives a linear weight after constant folding transposed it. */
  foldedName(): string {
    return `onnx::MatMul_${1000 + this.matmulCounter++}`;
  }

  /** A node named as torch scopes it (/h.0/attn/MatMul, then /h.0/attn/MatMul_1), outputs `<name>_output_<i>` unless named. */
  op(opType: string, inputs: string[], attrs: Attributes = {}, outputs = 1, outputNames?: string[]): string[] {
    const scope = this.scopes.length ? `/${this.scopes.join("/")}` : "";
    return this.e.add({ opType, inputs, attributes: attrs, count: outputs, outputs: outputNames, name: `${scope}/${opType}` }).output;
  }

  op1(opType: string, inputs: string[], attrs: Attributes = {}): string {
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
    const graph = create(GraphProtoSchema, { name: this.graph.name, node: this.nodes, initializer, input: this.graph.input, output: this.graph.output });
    return modelOf(graph, BUILD_OPSET, { producerVersion: "0.1.0", docString });
  }
}

