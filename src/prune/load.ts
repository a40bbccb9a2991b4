import type { TensorProto } from "onnx-buf";
import type { ParamInfo } from "../models/types.ts";
import { DataType, bfloat16ToFloat, dataTypeName, halfToFloat } from "../onnx/dtype.ts";
import { graphOf, type OnnxModel } from "../onnx/model.ts";
import { elementCount, materialize, tensorShape } from "../onnx/tensor.ts";
import { PruneError } from "./errors.ts";
import type { TargetGroup } from "./targets.ts";
import type { PruneTarget } from "./types.ts";

/**
 * Loads each target into memory that is also what the writer writes: an external tensor is
 * read once and the proto then points at that buffer (materialize), an inline one is already
 * a view of the model file's bytes. fp32 weights are views of those bytes, so zeroing them
 * writes the output; fp16, bf16 and fp64 are converted to fp32 for selection and written back
 * in their own type afterwards (every fp16/bf16 value survives the round trip exactly).
 */
export interface LoadedTarget extends PruneTarget {
  tensor: TensorProto;
  bytes: Uint8Array;
  isView: boolean;
  copyTensors: { tensor: TensorProto; bytes: Uint8Array }[];
}

export function loadTargets(model: OnnxModel, groups: readonly TargetGroup[]): LoadedTarget[] {
  const byName = new Map(graphOf(model).initializer.map((t) => [t.name, t]));
  const tensorOf = (p: ParamInfo): TensorProto => {
    const t = byName.get(p.name);
    if (!t) throw new PruneError(`${model.file}: the model map names ${JSON.stringify(p.name)}, which is not an initializer of the main graph`);
    return t;
  };
  return groups.map(({ info, copies }) => {
    const tensor = tensorOf(info);
    const shape = tensorShape(model, tensor);
    const bytes = materialize(model, tensor);
    const { weights, isView } = toFloat32(model, tensor, bytes);
    const target: LoadedTarget = {
      name: info.name,
      shape,
      count: elementCount(shape),
      info,
      layout: info.layout,
      weights,
      tensor,
      bytes,
      isView,
      copies: [],
      copyTensors: [],
    };
    for (const c of copies) {
      const copyTensor = tensorOf(c);
      const copyShape = tensorShape(model, copyTensor);
      const copyBytes = materialize(model, copyTensor);
      const transposed = copyRelation(model, target, copyTensor, copyShape, copyBytes);
      target.copies.push({ name: c.name, shape: copyShape, transposed });
      target.copyTensors.push({ tensor: copyTensor, bytes: copyBytes });
    }
    return target;
  });
}

function toFloat32(model: OnnxModel, tensor: TensorProto, bytes: Uint8Array): { weights: Float32Array; isView: boolean } {
  const n = elementCount(tensorShape(model, tensor));
  switch (tensor.dataType) {
    case DataType.FLOAT:
      if (bytes.byteOffset % 4 === 0) return { weights: new Float32Array(bytes.buffer, bytes.byteOffset, n), isView: true };
      {
        // A copy: Buffer#slice (rawData may be a Buffer) would share memory instead.
        const copy = new Float32Array(n);
        new Uint8Array(copy.buffer).set(bytes);
        return { weights: copy, isView: false };
      }
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      const convert = tensor.dataType === DataType.FLOAT16 ? halfToFloat : bfloat16ToFloat;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = convert(bytes[2 * i] | (bytes[2 * i + 1] << 8));
      return { weights: out, isView: false };
    }
    case DataType.DOUBLE: {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      return { weights: out, isView: false };
    }
    default:
      throw new PruneError(`${model.file}: ${tensor.name} is ${dataTypeName(tensor.dataType)}; only float weights (FLOAT, FLOAT16, BFLOAT16, DOUBLE) can be pruned`);
  }
}

/**
 * Checks that a tied copy really holds the target's values, as is or transposed (the map's
 * duplicateOf is a claim about values; writing one tensor's values into another that differs
 * would silently change the model).
 */
function copyRelation(model: OnnxModel, target: LoadedTarget, tensor: TensorProto, shape: number[], bytes: Uint8Array): boolean {
  const where = `${tensor.name} (a tied copy of ${target.name})`;
  if (elementCount(shape) !== target.count) throw new PruneError(`${where}: shape [${shape.join(", ")}] does not match [${target.shape.join(", ")}]`);
  const values = toFloat32(model, tensor, bytes).weights;
  const w = target.weights;
  const sameShape = shape.length === target.shape.length && shape.every((d, i) => d === target.shape[i]);
  if (sameShape && equalValues(w, values)) return false;
  if (target.shape.length === 2 && shape.length === 2 && shape[0] === target.shape[1] && shape[1] === target.shape[0]) {
    const [rows, cols] = target.shape;
    let same = true;
    for (let r = 0; r < rows && same; r++) {
      for (let c = 0; c < cols; c++) {
        if (!Object.is(w[r * cols + c], values[c * rows + r])) {
          same = false;
          break;
        }
      }
    }
    if (same) return true;
  }
  throw new PruneError(`${where}: the model map calls it a duplicate, but its values differ from ${target.name} (as is and transposed); it cannot share one mask`);
}

function equalValues(a: Float32Array, b: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** Zeroes the pruned elements in a tensor's own bytes (any element size), leaving the rest bit-exact. */
export function zeroBytes(bytes: Uint8Array, elementSize: number, mask: { length: number; bits: Uint8Array }): void {
  const bits = mask.bits;
  for (let byte = 0; byte < bits.length; byte++) {
    const b = bits[byte];
    if (b === 0xff) continue;
    const end = Math.min(8, mask.length - byte * 8);
    for (let j = 0; j < end; j++) {
      if (!((b >>> j) & 1)) bytes.fill(0, (byte * 8 + j) * elementSize, (byte * 8 + j + 1) * elementSize);
    }
  }
}
