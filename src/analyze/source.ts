import { closeSync, openSync, readSync } from "node:fs";
import type { ParamInfo } from "../models/types.ts";
import type { OnnxModel, TensorProto } from "../onnx/model.ts";
import { graphOf } from "../onnx/model.ts";
import { DataType, dataTypeName } from "../onnx/dtype.ts";
import { OnnxFormatError } from "../onnx/errors.ts";
import { elementCount, externalDataRef, isExternal, tensorBytes, tensorShape } from "../onnx/tensor.ts";
import { halfToFloatTable } from "./float-bits.ts";

/** Where the analysis gets weights from: a slice of a parameter, as fp32. */
export interface WeightSource {
  /**
   * Elements [start, start + count) of a float parameter as fp32: a view of memory the source
   * already holds, or `scratch` (at least `count` long) filled with them.
   */
  read(param: ParamInfo, start: number, count: number, scratch: Float32Array): Float32Array;
  close?(): void;
}

/**
 * Reads initializers of an ONNX model slice by slice: inline fp32 as views of the file's bytes,
 * external data straight from the data file into the caller's scratch memory (never the whole
 * file, never a fresh buffer per tensor), fp16/bf16 converted on the way.
 */
export function onnxWeightSource(model: OnnxModel): WeightSource & { close(): void } {
  const tensors = new Map<string, TensorProto>();
  for (const t of graphOf(model).initializer) tensors.set(t.name, t);
  const files = new Map<string, number>();
  const checked = new WeakSet<TensorProto>();
  let staging = new Uint8Array(0);

  const fdOf = (file: string) => {
    let fd = files.get(file);
    if (fd === undefined) {
      fd = openSync(file, "r");
      files.set(file, fd);
    }
    return fd;
  };
  /** Raw bytes [byteStart, byteStart + byteLength) of a tensor, into `into` when it must be read. */
  const rawBytes = (tensor: TensorProto, byteStart: number, byteLength: number, into: Uint8Array): Uint8Array => {
    if (!isExternal(tensor)) return tensorBytes(model, tensor).subarray(byteStart, byteStart + byteLength);
    const width = elementWidth(model, tensor);
    const ref = externalDataRef(model, tensor, elementCount(tensorShape(model, tensor)) * width);
    const fd = fdOf(ref.file);
    let done = 0;
    while (done < byteLength) {
      const n = readSync(fd, into, done, Math.min(byteLength - done, 1 << 30), ref.offset + byteStart + done);
      if (n === 0) throw new OnnxFormatError(model.file, `initializer ${JSON.stringify(tensor.name)}`, "external data ends early");
      done += n;
    }
    return into.subarray(0, byteLength);
  };
  const stage = (bytes: number) => {
    if (staging.byteLength < bytes) staging = new Uint8Array(bytes);
    return staging;
  };

  return {
    read(param, start, count, scratch) {
      const tensor = tensors.get(param.name);
      const where = `initializer ${JSON.stringify(param.name)}`;
      if (!tensor) throw new OnnxFormatError(model.file, where, "not found in the graph");
      if (!checked.has(tensor)) {
        const elements = elementCount(tensorShape(model, tensor));
        if (elements !== param.count) throw new OnnxFormatError(model.file, where, `has ${elements} elements, the model map says ${param.count}`);
        checked.add(tensor);
      }
      if (start < 0 || start + count > param.count) throw new RangeError(`${model.file}: ${where}: elements ${start}..${start + count} out of ${param.count}`);
      const out = scratch.subarray(0, count);
      const scratchBytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      switch (tensor.dataType) {
        case DataType.FLOAT: {
          const bytes = rawBytes(tensor, 4 * start, 4 * count, scratchBytes);
          if (bytes.buffer === scratchBytes.buffer && bytes.byteOffset === scratchBytes.byteOffset) return out;
          if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
          scratchBytes.set(bytes);
          return out;
        }
        case DataType.FLOAT16:
        case DataType.BFLOAT16: {
          const bytes = rawBytes(tensor, 2 * start, 2 * count, stage(2 * count));
          const halves =
            bytes.byteOffset % 2 === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, count) : new Uint16Array(copyBytes(bytes).buffer, 0, count);
          if (tensor.dataType === DataType.FLOAT16) {
            const table = halfToFloatTable();
            for (let i = 0; i < count; i++) out[i] = table[halves[i]];
          } else {
            const words = new Uint32Array(out.buffer, out.byteOffset, count);
            for (let i = 0; i < count; i++) words[i] = halves[i] << 16;
          }
          return out;
        }
        case DataType.DOUBLE: {
          // fp64 weights are rare; they are analysed at fp32 precision.
          const bytes = rawBytes(tensor, 8 * start, 8 * count, stage(8 * count));
          const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
          return out;
        }
        default:
          throw new OnnxFormatError(model.file, where, `is ${dataTypeName(tensor.dataType)}, not a float tensor`);
      }
    },
    close() {
      for (const fd of files.values()) closeSync(fd);
      files.clear();
    },
  };
}

/** A real copy (a Node Buffer's slice() is a view of the same memory). */
function copyBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes);
  return out;
}

function elementWidth(model: OnnxModel, tensor: TensorProto): number {
  switch (tensor.dataType) {
    case DataType.FLOAT:
      return 4;
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return 2;
    case DataType.DOUBLE:
      return 8;
    default:
      throw new OnnxFormatError(model.file, `initializer ${JSON.stringify(tensor.name)}`, `is ${dataTypeName(tensor.dataType)}, not a float tensor`);
  }
}
