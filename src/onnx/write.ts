import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, type TensorProto } from "onnx-buf";
import { closeSync, openSync, readSync, mkdirSync } from "node:fs";
import path from "node:path";
import { elementBytes } from "./dtype.ts";
import { OnnxFormatError } from "./errors.ts";
import { MAX_INLINE_MODEL_BYTES, graphOf, type OnnxModel } from "./model.ts";
import { DataLocation, elementCount, externalDataEntries, externalDataRef, isExternal, tensorBytes, tensorShape } from "./tensor.ts";
import { writeAllAt, writeAtomicWith, writeFileAtomic } from "../util/atomic.ts";

export interface WriteOptions {
  /**
   * "auto" keeps weights external when the source had external data or when the weights
   * would push the file past protobuf's 2 GiB limit; "always" and "never" force it.
   */
  externalData?: "auto" | "always" | "never";
  /** Data file name in the output folder; defaults to `<model file name>.data`. */
  location?: string;
  /** Tensors under this many bytes stay inline (onnx's save_model uses 1024 too). */
  sizeThreshold?: number;
}

/** onnxruntime memory-maps external data; offsets on page boundaries let it map each tensor. */
export const EXTERNAL_DATA_ALIGNMENT = 4096;
/** Weights above this go external in "auto" mode, leaving room for the graph itself. */
const AUTO_EXTERNAL_BYTES = 1.8 * 2 ** 30;
const COPY_CHUNK = 16 << 20;

/**
 * Writes a model. Every field that was not changed is written back as it was read (unknown
 * fields included), so an unchanged model re-encodes to the same bytes. The model in memory
 * is not modified. Both files appear atomically: data file first, then the graph.
 */
export function writeModel(model: OnnxModel, file: string, options: WriteOptions = {}): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  if (!usesExternalData(model, options)) {
    writeFileAtomic(file, inlineModelBytes(model, file));
    return;
  }
  const layout = externalLayout(model, file, options);
  writeAtomicWith(layout.dataFile, (fd) => {
    for (const { tensor, offset, length } of layout.placed) copyTensorData(model, tensor, fd, offset, length);
  });
  writeFileAtomic(file, layout.graphBytes());
}

/** Whether a write keeps weights in a data file (see WriteOptions.externalData). */
export function usesExternalData(model: OnnxModel, options: WriteOptions): boolean {
  const mode = options.externalData ?? "auto";
  if (mode !== "auto") return mode === "always";
  const graph = graphOf(model);
  const total = graph.initializer.reduce((sum, t) => sum + tensorByteLength(model, t), 0);
  return graph.initializer.some(isExternal) || total > AUTO_EXTERNAL_BYTES;
}

function inlineModelBytes(model: OnnxModel, file: string): Uint8Array {
  const graph = graphOf(model);
  const initializer = graph.initializer.map((t) => (isExternal(t) ? inlineCopy(model, t) : t));
  const bytes = toBinary(ModelProtoSchema, { ...model.proto, graph: { ...graph, initializer } });
  if (bytes.byteLength > MAX_INLINE_MODEL_BYTES) {
    throw new OnnxFormatError(file, "ModelProto", `would be ${bytes.byteLength} bytes inline; write it with external data`);
  }
  return bytes;
}

/** Where each weight goes in the data file, and the graph that points there. */
export interface ExternalLayout {
  dataFile: string;
  /** Tensors written to the data file, in file order, with their place in it. */
  placed: { tensor: TensorProto; offset: number; length: number }[];
  /** The model file's bytes: the graph with every placed tensor pointing into the data file. */
  graphBytes(): Uint8Array;
}

export function externalLayout(model: OnnxModel, file: string, options: WriteOptions): ExternalLayout {
  const graph = graphOf(model);
  const threshold = options.sizeThreshold ?? 1024;
  const location = options.location ?? `${path.basename(file)}.data`;
  if (path.isAbsolute(location) || location.split(/[\\/]/).includes("..")) {
    throw new OnnxFormatError(file, "external data location", `${JSON.stringify(location)} must be a relative path inside the model's folder`);
  }
  const dataFile = path.join(path.dirname(path.resolve(file)), location);
  const initializer: TensorProto[] = [];
  const placed: ExternalLayout["placed"] = [];
  let offset = 0;
  for (const tensor of graph.initializer) {
    const length = tensorByteLength(model, tensor);
    if (length < threshold) {
      initializer.push(isExternal(tensor) ? inlineCopy(model, tensor) : tensor);
      continue;
    }
    offset = Math.ceil(offset / EXTERNAL_DATA_ALIGNMENT) * EXTERNAL_DATA_ALIGNMENT;
    placed.push({ tensor, offset, length });
    const moved = withoutData(tensor);
    moved.dataLocation = DataLocation.EXTERNAL;
    moved.externalData = externalDataEntries(location, offset, length);
    initializer.push(moved);
    offset += length;
  }
  return { dataFile, placed, graphBytes: () => toBinary(ModelProtoSchema, { ...model.proto, graph: { ...graph, initializer } }) };
}

function tensorByteLength(model: OnnxModel, tensor: TensorProto): number {
  const size = elementBytes(tensor.dataType);
  if (size === undefined) return 0;
  return elementCount(tensorShape(model, tensor)) * size;
}

function inlineCopy(model: OnnxModel, tensor: TensorProto): TensorProto {
  const copy = withoutData(tensor);
  copy.rawData = tensorBytes(model, tensor);
  return copy;
}

/**
 * A copy of the tensor's metadata with no data and no location. ONNX is proto2: unset fields
 * live on the message's prototype, so they are deleted rather than assigned empty values
 * (an assigned empty raw_data is encoded as present, and onnxruntime then reads it instead of
 * the external data or typed field).
 */
function withoutData(tensor: TensorProto): TensorProto {
  const copy = Object.assign(Object.create(Object.getPrototypeOf(tensor) as object) as TensorProto, tensor);
  for (const field of ["rawData", "dataLocation"] as const) delete (copy as Partial<TensorProto>)[field];
  copy.floatData = [];
  copy.int32Data = [];
  copy.int64Data = [];
  copy.doubleData = [];
  copy.uint64Data = [];
  copy.stringData = [];
  copy.externalData = [];
  return copy;
}

/** Streams external sources in chunks, so rewriting a 2 GB model never holds it twice. */
function copyTensorData(model: OnnxModel, tensor: TensorProto, fd: number, offset: number, length: number): void {
  if (!isExternal(tensor)) {
    const bytes = tensorBytes(model, tensor);
    writeAllAt(fd, bytes, offset);
    return;
  }
  const ref = externalDataRef(model, tensor, length);
  const src = openSync(ref.file, "r");
  const chunk = Buffer.allocUnsafeSlow(Math.min(COPY_CHUNK, Math.max(length, 1)));
  try {
    for (let done = 0; done < length; ) {
      const n = readSync(src, chunk, 0, Math.min(chunk.length, length - done), ref.offset + done);
      if (n === 0) throw new OnnxFormatError(model.file, `initializer ${JSON.stringify(tensor.name)}`, "external data ends early");
      writeAllAt(fd, chunk.subarray(0, n), offset + done);
      done += n;
    }
  } finally {
    closeSync(src);
  }
}
