/**
 * A small model with every kind of weight the pruning engine meets: a MatMul [in, out] weight,
 * a Gemm transB=1 [out, in] weight, a bias, and an embedding table tied to a transposed
 * LM-head copy; with its ModelMap written by hand (tests of src/prune do not depend on the
 * family recognisers). Values are multiples of 1/16 so magnitudes tie often, with exact zeros
 * and negative zeros among them.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import {
  AttributeProto_AttributeType as AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
} from "onnx-buf";
import type { ModelMap, ParamInfo } from "../../src/models/types.ts";
import { DataType, floatToHalf } from "../../src/onnx/dtype.ts";
import { decodeModel, type OnnxModel } from "../../src/onnx/model.ts";
import { seededRandom } from "../../src/util/random.ts";

export const IN = 8;
export const HIDDEN = 16;
export const MID = 12;
export const VOCAB = 8;

/** Seeded uniform [0, 1): the project's generator. */
export const rng = seededRandom;

/** Values in [-2, 2] on a 1/16 grid: many ties, some 0 and -0. */
export function tiedValues(n: number, random: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Math.round((random() * 4 - 2) * 16) / 16;
    out[i] = v === 0 && random() < 0.5 ? -0 : v;
  }
  return out;
}

export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

export interface TinyModel {
  model: OnnxModel;
  map: ModelMap;
  bytes: Uint8Array;
  values: Record<string, Float32Array>;
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]) {
  const dim = dims.map((d) =>
    create(TensorShapeProto_DimensionSchema, { value: typeof d === "number" ? { case: "dimValue", value: BigInt(d) } : { case: "dimParam", value: d } }),
  );
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: "tensorType", value: create(TypeProto_TensorSchema, { elemType, shape: create(TensorShapeProtoSchema, { dim }) }) } }),
  });
}

export function tinyModel(options: { seed?: number; dataType?: DataType.FLOAT | DataType.FLOAT16; file?: string } = {}): TinyModel {
  const random = rng(options.seed ?? 1);
  const dataType = options.dataType ?? DataType.FLOAT;
  const values: Record<string, Float32Array> = {
    W1: tiedValues(IN * HIDDEN, random),
    b1: tiedValues(HIDDEN, random),
    W2: tiedValues(MID * HIDDEN, random),
    T: tiedValues(VOCAB * MID, random),
  };
  values.TT = transpose(values.T, VOCAB, MID);
  const shapes: Record<string, number[]> = { W1: [IN, HIDDEN], b1: [HIDDEN], W2: [MID, HIDDEN], T: [VOCAB, MID], TT: [MID, VOCAB] };
  const encode = (v: Float32Array): Uint8Array<ArrayBuffer> => {
    if (dataType === DataType.FLOAT) return new Uint8Array(v.slice().buffer);
    const out = new Uint8Array(v.length * 2);
    for (let i = 0; i < v.length; i++) {
      const h = floatToHalf(v[i]);
      out[2 * i] = h & 0xff;
      out[2 * i + 1] = h >>> 8;
    }
    return out;
  };
  const initializer = Object.keys(shapes).map((name) => create(TensorProtoSchema, { name, dataType, dims: shapes[name].map(BigInt), rawData: encode(values[name]) }));
  const node = (opType: string, input: string[], output: string[], attrs: Record<string, number> = {}) =>
    create(NodeProtoSchema, {
      name: `${opType}_${output[0]}`,
      opType,
      input,
      output,
      attribute: Object.entries(attrs).map(([name, i]) => create(AttributeProtoSchema, { name, type: AttributeType.INT, i: BigInt(i) })),
    });
  const nodes = [];
  const use: Record<string, string> = { W1: "W1", b1: "b1", W2: "W2", T: "T", TT: "TT" };
  if (dataType !== DataType.FLOAT) {
    for (const name of Object.keys(use)) {
      nodes.push(node("Cast", [name], [`${name}_f`], { to: DataType.FLOAT }));
      use[name] = `${name}_f`;
    }
  }
  nodes.push(
    node("MatMul", ["x", use.W1], ["h1"]),
    node("Add", ["h1", use.b1], ["h2"]),
    node("Relu", ["h2"], ["h3"]),
    node("Gemm", ["h3", use.W2], ["h4"], { transB: 1 }),
    node("Gather", [use.T, "ids"], ["e"]),
    node("Add", ["h4", "e"], ["h5"]),
    node("MatMul", ["h5", use.TT], ["y"]),
  );
  const graph = create(GraphProtoSchema, {
    name: "tiny",
    node: nodes,
    initializer,
    input: [valueInfo("x", DataType.FLOAT, ["batch", IN]), valueInfo("ids", DataType.INT64, ["batch"])],
    output: [valueInfo("y", DataType.FLOAT, ["batch", VOCAB])],
  });
  const proto = create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: 17n })], producerName: "prunebench-test", graph });
  const bytes = toBinary(ModelProtoSchema, proto);
  const model = decodeModel(bytes, options.file ?? "/tmp/tiny.onnx");
  const param = (name: string, extra: Partial<ParamInfo> & Pick<ParamInfo, "block" | "role">): ParamInfo => ({
    name,
    shape: shapes[name],
    dataType,
    count: shapes[name].reduce((a, b) => a * b, 1),
    part: "decoder",
    layer: 0,
    prunable: false,
    consumers: [],
    ...extra,
  });
  const map: ModelMap = {
    family: "decoder",
    architecture: "tiny test model",
    layers: { encoder: 0, decoder: 1 },
    params: [
      param("W1", { block: "mlp", role: "fc_in", layout: "in_out", prunable: true }),
      param("b1", { block: "mlp", role: "bias" }),
      param("W2", { block: "mlp", role: "fc_out", layout: "out_in", prunable: true }),
      param("T", { part: "shared", layer: null, block: "embedding", role: "token_embedding", layout: "out_in" }),
      param("TT", { part: "shared", layer: null, block: "head", role: "lm_head", layout: "in_out", duplicateOf: "T" }),
    ],
    notes: [],
  };
  return { model, map, bytes, values };
}
