import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, type ModelProto } from "onnx-buf";
import * as ort from "onnxruntime-node";
import { cudaFailureReason, cudaUnavailableReason } from "../eval/session.ts";
import { DataType } from "../onnx/dtype.ts";

export { ort };

export interface SessionOptions {
  executionProviders?: string[];
  /** Graph optimizations; the shape run disables them so every tapped value exists as written. */
  optimize?: boolean;
  intraOpThreads?: number;
}

/**
 * Creates an onnxruntime session on an in-memory model (all weights inline or fed as inputs).
 * Where the cuda provider is asked for and cannot run, the session runs on the cpu and one line
 * says why (once per process).
 */
export async function createSession(proto: ModelProto, options: SessionOptions = {}): Promise<ort.InferenceSession> {
  const bytes = toBinary(ModelProtoSchema, proto);
  const create = (executionProviders: string[]) =>
    ort.InferenceSession.create(bytes, {
      logSeverityLevel: 3,
      executionProviders,
      graphOptimizationLevel: options.optimize === false ? "disabled" : "all",
      ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
    });
  const providers = options.executionProviders ?? ["cpu"];
  if (!providers.includes("cuda")) return create(providers);
  const cpu = providers.filter((p) => p !== "cuda");
  const unavailable = cudaUnavailableReason();
  if (unavailable) {
    warnOnce(`cuda provider unavailable, running on cpu: ${unavailable}`);
    return create(cpu.length ? cpu : ["cpu"]);
  }
  try {
    return await create(providers);
  } catch (error) {
    warnOnce(cudaFailureReason(error));
    return create(cpu.length ? cpu : ["cpu"]);
  }
}

const warned = new Set<string>();
function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  console.error(`warning: ${message}`);
}

const TYPES: Record<string, number> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  float16: DataType.FLOAT16,
  int64: DataType.INT64,
  int32: DataType.INT32,
  int16: DataType.INT16,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  uint16: DataType.UINT16,
  uint32: DataType.UINT32,
  uint64: DataType.UINT64,
  bool: DataType.BOOL,
  string: DataType.STRING,
};

export function onnxType(tensor: ort.Tensor): number {
  return TYPES[tensor.type] ?? DataType.UNDEFINED;
}

export function ortTypeOf(dataType: number): "float32" | "int64" | "int32" {
  if (dataType === DataType.INT64) return "int64";
  if (dataType === DataType.INT32) return "int32";
  if (dataType === DataType.FLOAT) return "float32";
  throw new Error(`unsupported input type ${DataType[dataType] ?? dataType}`);
}

/** Integer feeds in the element type a graph input declares. */
export function intTensor(dataType: number, values: ArrayLike<number>, dims: number[]): ort.Tensor {
  if (dataType === DataType.INT32) return new ort.Tensor("int32", Int32Array.from(values), dims);
  if (dataType === DataType.INT64) return new ort.Tensor("int64", BigInt64Array.from(Array.from(values), (v) => BigInt(v)), dims);
  if (dataType === DataType.FLOAT) return new ort.Tensor("float32", Float32Array.from(values), dims);
  throw new Error(`unsupported input type ${DataType[dataType] ?? dataType}`);
}
