import type { TensorProto } from "onnx-buf";
import { DataType, halfToFloat, bfloat16ToFloat } from "../../onnx/dtype.ts";
import { readFileRange } from "../../onnx/model.ts";
import { externalDataRef, isExternal, readFloat32 } from "../../onnx/tensor.ts";
import type { OnnxModel } from "../../onnx/model.ts";

const SAMPLES = 16;

/**
 * True when `b` holds the values of `a` transposed (or the same values, when `transposed` is
 * false): how exporters write a tied embedding a second time for the LM head. A handful of
 * sampled elements are compared first, reading only their bytes, so unrelated matrices of a
 * large model with external data are rejected without reading them.
 */
export function sameValues(model: OnnxModel, a: TensorProto, b: TensorProto, shapeA: number[], transposed: boolean): boolean {
  const [rows, cols] = shapeA;
  const n = rows * cols;
  if (n === 0) return false;
  const picks: [number, number][] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const i = Math.floor(((s * 2654435761) % 4294967296) / 4294967296 * n);
    const r = Math.floor(i / cols);
    const c = i % cols;
    picks.push([r * cols + c, transposed ? c * rows + r : r * cols + c]);
  }
  for (const [ia, ib] of picks) {
    if (!Object.is(element(model, a, ia), element(model, b, ib))) return false;
  }
  const da = readFloat32(model, a).data;
  const db = readFloat32(model, b).data;
  if (transposed) {
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (da[r * cols + c] !== db[c * rows + r]) return false;
  } else {
    for (let i = 0; i < n; i++) if (da[i] !== db[i]) return false;
  }
  return true;
}

function element(model: OnnxModel, t: TensorProto, i: number): number {
  const size = t.dataType === DataType.FLOAT ? 4 : t.dataType === DataType.DOUBLE ? 8 : 2;
  let bytes: Uint8Array;
  if (isExternal(t)) {
    const total = Number(t.dims.reduce((a, b) => a * b, 1n)) * size;
    const ref = externalDataRef(model, t, total);
    bytes = readFileRange(ref.file, ref.offset + i * size, size);
  } else if (t.rawData.length) {
    bytes = t.rawData.subarray(i * size, i * size + size);
  } else {
    return readFloat32(model, t).data[i];
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, size);
  switch (t.dataType) {
    case DataType.FLOAT:
      return view.getFloat32(0, true);
    case DataType.DOUBLE:
      return view.getFloat64(0, true);
    case DataType.FLOAT16:
      return halfToFloat(view.getUint16(0, true));
    default:
      return bfloat16ToFloat(view.getUint16(0, true));
  }
}
