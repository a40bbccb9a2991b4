import { realpathSync, existsSync, statSync } from "node:fs";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { StringStringEntryProtoSchema, TensorProto_DataLocation as DataLocation } from "onnx-buf";
import type { StringStringEntryProto, TensorProto } from "onnx-buf";
import { DataType, dataTypeName, elementBytes, floatToBfloat16, floatToHalf, halfToFloatTable } from "./dtype.ts";
import { OnnxFormatError } from "./errors.ts";
import { readFileRange, type OnnxModel } from "./model.ts";

export { DataLocation };

export function tensorShape(model: OnnxModel, tensor: TensorProto): number[] {
  return tensor.dims.map((d, i) => {
    const n = Number(d);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new OnnxFormatError(model.file, `initializer ${JSON.stringify(tensor.name)}`, `dims[${i}] = ${d} is not a valid size`);
    }
    return n;
  });
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export interface ExternalDataRef {
  /** Absolute path of the data file, checked to stay inside the model's folder. */
  file: string;
  offset: number;
  length: number;
}

/** The external_data entries that point a tensor at `length` bytes at `offset` of `location`. */
export function externalDataEntries(location: string, offset: number, length: number): StringStringEntryProto[] {
  return [
    create(StringStringEntryProtoSchema, { key: "location", value: location }),
    create(StringStringEntryProtoSchema, { key: "offset", value: String(offset) }),
    create(StringStringEntryProtoSchema, { key: "length", value: String(length) }),
  ];
}

export function isExternal(tensor: TensorProto): boolean {
  return tensor.dataLocation === DataLocation.EXTERNAL;
}

/**
 * Resolves a tensor's external data entry. A location that is absolute or climbs out of the
 * model's folder (directly or through a symbolic link) is refused: a model file from a pull
 * request must not make prunebench read arbitrary files on the runner.
 */
export function externalDataRef(model: OnnxModel, tensor: TensorProto, expectedBytes: number): ExternalDataRef {
  const where = `initializer ${JSON.stringify(tensor.name)} external_data`;
  const entries = new Map(tensor.externalData.map((e) => [e.key, e.value]));
  const location = entries.get("location");
  if (!location) throw new OnnxFormatError(model.file, where, "has no 'location' entry");
  if (path.isAbsolute(location) || /^[a-zA-Z]:/.test(location) || location.includes("\0")) {
    throw new OnnxFormatError(model.file, where, `location ${JSON.stringify(location)} is absolute; it must be relative to the model's folder`);
  }
  const dir = path.resolve(model.dir);
  const file = path.resolve(dir, location);
  if (!isInside(dir, file)) {
    throw new OnnxFormatError(model.file, where, `location ${JSON.stringify(location)} leaves the model's folder`);
  }
  if (!existsSync(file)) throw new OnnxFormatError(model.file, where, `data file ${JSON.stringify(location)} not found beside the model`);
  if (!isInside(realpathSync(dir), realpathSync(file))) {
    throw new OnnxFormatError(model.file, where, `location ${JSON.stringify(location)} resolves (through a link) outside the model's folder`);
  }
  const offset = parseCount(entries.get("offset") ?? "0", model.file, `${where} offset`);
  const length = entries.has("length") ? parseCount(entries.get("length")!, model.file, `${where} length`) : expectedBytes;
  if (length !== expectedBytes) {
    throw new OnnxFormatError(model.file, where, `length ${length} does not match ${expectedBytes} bytes for its shape and type`);
  }
  const size = statSync(file).size;
  if (offset + length > size) {
    throw new OnnxFormatError(model.file, where, `bytes ${offset}..${offset + length} lie past the end of ${JSON.stringify(location)} (${size} bytes)`);
  }
  return { file, offset, length };
}

/**
 * The data files a model's external tensors name, resolved against its folder, each once, in
 * first-use order. Unchecked (externalDataRef checks a location when it is read): for listing
 * what a model consists of (sizes, files an output must not replace).
 */
export function externalDataFiles(model: OnnxModel): string[] {
  const files = new Set<string>();
  for (const tensor of model.proto.graph?.initializer ?? []) {
    if (!isExternal(tensor)) continue;
    const location = tensor.externalData.find((e) => e.key === "location")?.value;
    if (location) files.add(path.resolve(model.dir, location));
  }
  return [...files];
}

function isInside(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

function parseCount(text: string, file: string, where: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new OnnxFormatError(file, where, `${JSON.stringify(text)} is not a byte count`);
  return n;
}

/**
 * The raw little-endian bytes of a tensor: a view of the model's buffer when inline, read
 * from the data file when external. Lengths are checked against shape and type.
 */
export function tensorBytes(model: OnnxModel, tensor: TensorProto): Uint8Array<ArrayBuffer> {
  const where = `initializer ${JSON.stringify(tensor.name)}`;
  const size = elementBytes(tensor.dataType);
  if (size === undefined) throw new OnnxFormatError(model.file, where, `data type ${dataTypeName(tensor.dataType)} is not supported`);
  const expected = elementCount(tensorShape(model, tensor)) * size;
  if (isExternal(tensor)) {
    const ref = externalDataRef(model, tensor, expected);
    return readFileRange(ref.file, ref.offset, ref.length);
  }
  if (tensor.rawData.length > 0 || expected === 0) {
    if (tensor.rawData.length !== expected) {
      throw new OnnxFormatError(model.file, where, `raw_data has ${tensor.rawData.length} bytes, its shape and type need ${expected}`);
    }
    return tensor.rawData;
  }
  return typedFieldBytes(model, tensor, expected / size);
}

/** Tensors may store values in the typed repeated fields instead of raw_data. */
function typedFieldBytes(model: OnnxModel, tensor: TensorProto, count: number): Uint8Array<ArrayBuffer> {
  const where = `initializer ${JSON.stringify(tensor.name)}`;
  const check = (n: number, field: string) => {
    if (n !== count) throw new OnnxFormatError(model.file, where, `${field} has ${n} values, its shape needs ${count}`);
  };
  switch (tensor.dataType) {
    case DataType.FLOAT:
      check(tensor.floatData.length, "float_data");
      return new Uint8Array(Float32Array.from(tensor.floatData).buffer);
    case DataType.DOUBLE:
      check(tensor.doubleData.length, "double_data");
      return new Uint8Array(Float64Array.from(tensor.doubleData).buffer);
    case DataType.INT64:
      check(tensor.int64Data.length, "int64_data");
      return new Uint8Array(BigInt64Array.from(tensor.int64Data, (v) => BigInt(v)).buffer);
    case DataType.UINT64:
      check(tensor.uint64Data.length, "uint64_data");
      return new Uint8Array(BigUint64Array.from(tensor.uint64Data, (v) => BigInt(v)).buffer);
    case DataType.INT32:
      check(tensor.int32Data.length, "int32_data");
      return new Uint8Array(Int32Array.from(tensor.int32Data).buffer);
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
    case DataType.UINT16:
    case DataType.INT16:
      check(tensor.int32Data.length, "int32_data");
      return new Uint8Array(Uint16Array.from(tensor.int32Data).buffer);
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.BOOL:
      check(tensor.int32Data.length, "int32_data");
      return Uint8Array.from(tensor.int32Data);
    case DataType.UINT32:
      check(tensor.uint64Data.length, "uint64_data");
      return new Uint8Array(Uint32Array.from(tensor.uint64Data, (v) => Number(v)).buffer);
    default:
      throw new OnnxFormatError(model.file, where, `data type ${dataTypeName(tensor.dataType)} is not supported`);
  }
}

/**
 * A float tensor's values as fp32. fp32 data that is aligned comes back as a view of the
 * model's memory (writes to it change the model); misaligned fp32, fp16, bf16 and fp64 are
 * converted into a new array. `isView` tells which.
 */
export function readFloat32(model: OnnxModel, tensor: TensorProto): { data: Float32Array; isView: boolean } {
  const bytes = tensorBytes(model, tensor);
  const n = bytes.byteLength / (elementBytes(tensor.dataType) ?? 1);
  switch (tensor.dataType) {
    case DataType.FLOAT: {
      if (bytes.byteOffset % 4 === 0) {
        return { data: new Float32Array(bytes.buffer, bytes.byteOffset, n), isView: !isExternal(tensor) };
      }
      const copy = new Float32Array(n);
      new Uint8Array(copy.buffer).set(bytes);
      return { data: copy, isView: false };
    }
    case DataType.FLOAT16: {
      const table = halfToFloatTable();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
      return { data: out, isView: false };
    }
    case DataType.BFLOAT16: {
      // bf16 is the high half of an fp32 word: shift into place through an integer view.
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = (bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16;
      return { data: out, isView: false };
    }
    case DataType.DOUBLE: {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      return { data: out, isView: false };
    }
    default:
      throw new OnnxFormatError(model.file, `initializer ${JSON.stringify(tensor.name)}`, `is ${dataTypeName(tensor.dataType)}, not a float tensor`);
  }
}

/** Integer tensors (shape constants, Split sizes, axes) as plain numbers. */
export function readIntegers(model: OnnxModel, tensor: TensorProto): number[] {
  const bytes = tensorBytes(model, tensor);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  switch (tensor.dataType) {
    case DataType.INT64:
      for (let i = 0; i < bytes.byteLength; i += 8) out.push(Number(view.getBigInt64(i, true)));
      return out;
    case DataType.INT32:
      for (let i = 0; i < bytes.byteLength; i += 4) out.push(view.getInt32(i, true));
      return out;
    default:
      throw new OnnxFormatError(model.file, `tensor ${JSON.stringify(tensor.name)}`, `is ${dataTypeName(tensor.dataType)}, not an integer tensor`);
  }
}

/**
 * Points a tensor at new fp32 values held in memory, without copying them: the tensor becomes
 * inline fp32 until it is written, when the writer decides inline or external.
 */
export function setFloat32(tensor: TensorProto, data: Float32Array): void {
  tensor.dataType = DataType.FLOAT;
  tensor.rawData = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  tensor.floatData = [];
  tensor.externalData = [];
  tensor.dataLocation = DataLocation.DEFAULT;
}

/** Writes fp32 values into bytes of a float type (fp32, fp16, bf16, fp64), rounding to nearest. */
export function encodeFloats(dataType: number, values: Float32Array, bytes: Uint8Array): void {
  const n = values.length;
  switch (dataType) {
    case DataType.FLOAT:
      bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      return;
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      const convert = dataType === DataType.FLOAT16 ? floatToHalf : floatToBfloat16;
      for (let i = 0; i < n; i++) {
        const h = convert(values[i]);
        bytes[2 * i] = h & 0xff;
        bytes[2 * i + 1] = h >>> 8;
      }
      return;
    }
    case DataType.DOUBLE: {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < n; i++) view.setFloat64(8 * i, values[i], true);
      return;
    }
    default:
      throw new Error(`cannot write ${dataTypeName(dataType)} values`);
  }
}

/**
 * Points a tensor at new values in its own float type: fp32 tensors share `data` (setFloat32),
 * fp16, bf16 and fp64 ones get new bytes, so a model keeps its weights' type when a stage
 * that computes in fp32 (SparseGPT, training) writes them back.
 */
export function setFloatValues(tensor: TensorProto, data: Float32Array): void {
  if (tensor.dataType === DataType.FLOAT) return setFloat32(tensor, data);
  const bytes = new Uint8Array(data.length * (elementBytes(tensor.dataType) ?? 0));
  encodeFloats(tensor.dataType, data, bytes);
  tensor.rawData = bytes;
  tensor.floatData = [];
  tensor.doubleData = [];
  tensor.int32Data = [];
  tensor.externalData = [];
  tensor.dataLocation = DataLocation.DEFAULT;
}

/**
 * Reads an external tensor into memory once, so later reads and writes are views of that
 * memory. Used by stages that modify weights (pruning, training).
 */
export function materialize(model: OnnxModel, tensor: TensorProto): Uint8Array {
  if (!isExternal(tensor)) return tensorBytes(model, tensor);
  const bytes = tensorBytes(model, tensor);
  tensor.rawData = bytes;
  tensor.externalData = [];
  tensor.dataLocation = DataLocation.DEFAULT;
  return bytes;
}
