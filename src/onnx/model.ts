import { create, fromBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from "onnx-buf";
import { openSync, readSync, closeSync, fstatSync, readFileSync } from "node:fs";
import path from "node:path";
import { OnnxFormatError } from "./errors.ts";

export type { ModelProto, GraphProto, NodeProto, TensorProto };
export { ModelProtoSchema, create };

/** A model as prunebench holds it: the decoded proto and where its external data lives. */
export interface OnnxModel {
  /** The file it was read from, for error messages; a label for models built in memory. */
  file: string;
  /** Folder that external data locations resolve against. */
  dir: string;
  proto: ModelProto;
}

/** Node's readFileSync refuses files over 2 GiB, and onnxruntime cannot parse a larger inline model. */
export const MAX_INLINE_MODEL_BYTES = 2 ** 31 - 1;

/**
 * Reads an .onnx file. Tensor bytes stay views into the file's buffer (no copy); external data
 * is not read here but on demand, tensor by tensor (see tensor.ts), so memory stays near the
 * size of what is used.
 */
export function readModel(file: string): OnnxModel {
  const abs = path.resolve(file);
  let size: number;
  let fd: number;
  try {
    fd = openSync(abs, "r");
  } catch (error) {
    throw new OnnxFormatError(file, "file", `cannot open: ${(error as Error).message}`);
  }
  try {
    size = fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
  if (size > MAX_INLINE_MODEL_BYTES) {
    throw new OnnxFormatError(file, "file", `is ${size} bytes; a model over 2 GiB must keep its weights in external data`);
  }
  if (size === 0) throw new OnnxFormatError(file, "file", "is empty");
  const bytes = readFileSync(abs);
  return decodeModel(bytes, abs);
}

/** Decodes model bytes; `file` names the source in errors and anchors external data. */
export function decodeModel(bytes: Uint8Array, file: string, dir = path.dirname(file)): OnnxModel {
  let proto: ModelProto;
  try {
    proto = fromBinary(ModelProtoSchema, bytes, { readUnknownFields: true });
  } catch (error) {
    throw new OnnxFormatError(file, "ModelProto", `not a valid ONNX protobuf (truncated or corrupt?): ${(error as Error).message}`);
  }
  if (!proto.graph) throw new OnnxFormatError(file, "ModelProto.graph", "missing: the file holds no graph");
  return { file, dir, proto };
}

export function graphOf(model: OnnxModel): GraphProto {
  if (!model.proto.graph) throw new OnnxFormatError(model.file, "ModelProto.graph", "missing");
  return model.proto.graph;
}

/** Reads `length` bytes at `offset` of a file into fresh (so 8-byte aligned) memory. */
export function readFileRange(file: string, offset: number, length: number): Buffer<ArrayBuffer> {
  const out = Buffer.allocUnsafeSlow(length);
  const fd = openSync(file, "r");
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, Math.min(length - done, 1 << 30), offset + done);
      if (n === 0) throw new Error(`file ends at ${offset + done}, ${length - done} bytes short`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
