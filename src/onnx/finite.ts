/**
 * NaN and Inf weights, refused wherever a model is read for work (analyze, prune, eval,
 * finetune, an external trainer's output, `run`'s preflight) with one message naming the file
 * and the initializer. Left alone they do not fail loudly: evaluation reports perplexity NaN,
 * training writes NaN models, magnitude ranks them as large, SparseGPT's solve breaks down.
 *
 * One pass over the float bytes as integers (fp32, fp16, bf16, fp64): inline data is read in
 * place, external data through one reused buffer, so no tensor is copied.
 */
import type { TensorProto } from "onnx-buf";
import { ByteRangeReader, sourceLength, tensorSource } from "./chunks.ts";
import { DataType, elementBytes } from "./dtype.ts";
import { OnnxFormatError } from "./errors.ts";
import { graphOf, type OnnxModel } from "./model.ts";

export interface NonFiniteCount {
  name: string;
  nan: number;
  /** +Inf and -Inf together. */
  inf: number;
}

/** How many initializers past the first the message names before "and N more". */
const NAMED = 3;

export class NonFiniteWeightsError extends OnnxFormatError {
  constructor(
    file: string,
    readonly tensors: NonFiniteCount[],
  ) {
    const [first, ...rest] = tensors;
    const named = rest.slice(0, NAMED).map((t) => `; also ${JSON.stringify(t.name)}: ${describeCount(t)}`).join("");
    const more = rest.length > NAMED ? `; and ${rest.length - NAMED} more initializer${rest.length - NAMED === 1 ? "" : "s"} with NaN or Inf` : "";
    super(file, `initializer ${JSON.stringify(first.name)}`, `${describeCount(first)}${named}${more} (weights must be finite)`);
  }
}

function describeCount(t: NonFiniteCount): string {
  const part = (n: number, what: string) => `${n} ${what} value${n === 1 ? "" : "s"}`;
  return [t.nan ? part(t.nan, "NaN") : "", t.inf ? part(t.inf, "Inf") : ""].filter(Boolean).join(" and ");
}

/** Throws NonFiniteWeightsError when any float initializer holds NaN or Inf. */
export function checkFiniteWeights(model: OnnxModel): void {
  const found = nonFiniteWeights(model);
  if (found.length) throw new NonFiniteWeightsError(model.file, found);
}

/** Every float initializer with NaN or Inf in it, in graph order, with its counts. */
export function nonFiniteWeights(model: OnnxModel, names?: ReadonlySet<string>): NonFiniteCount[] {
  const found: NonFiniteCount[] = [];
  for (const tensor of graphOf(model).initializer) {
    if (!WIDTH[tensor.dataType] || (names && !names.has(tensor.name))) continue;
    const counts = countTensor(model, tensor);
    if (counts.nan || counts.inf) found.push({ name: tensor.name, ...counts });
  }
  return found;
}

/** Element width of the float types checked; a chunk is a multiple of every one. */
const WIDTH: Partial<Record<number, number>> = { [DataType.FLOAT]: 4, [DataType.FLOAT16]: 2, [DataType.BFLOAT16]: 2, [DataType.DOUBLE]: 8 };
const CHUNK_BYTES = 1 << 22;

function countTensor(model: OnnxModel, tensor: TensorProto): { nan: number; inf: number } {
  const counts = { nan: 0, inf: 0 };
  const source = tensorSource(model, tensor);
  const reader = new ByteRangeReader(source);
  const length = sourceLength(source);
  const width = elementBytes(tensor.dataType)!;
  let scratch: Uint8Array | undefined;
  try {
    for (let at = 0; at < length; at += CHUNK_BYTES) {
      let bytes = reader.read(at, Math.min(CHUNK_BYTES, length - at));
      // Inline data is a view into the file's bytes, at any offset; typed views need alignment.
      if (bytes.byteOffset % width !== 0) {
        scratch ??= new Uint8Array(Math.min(CHUNK_BYTES, length));
        scratch.set(bytes);
        bytes = scratch.subarray(0, bytes.byteLength);
      }
      countNonFinite(bytes, tensor.dataType, counts);
    }
  } finally {
    reader.close();
  }
  return counts;
}

/**
 * Adds the NaN and Inf values of little-endian float bytes (aligned to their width) to
 * `counts`, by bit pattern: exponent all ones is Inf with a zero fraction, NaN otherwise.
 */
export function countNonFinite(bytes: Uint8Array, dataType: number, counts: { nan: number; inf: number }): void {
  const { buffer, byteOffset, byteLength } = bytes;
  // Int32 views keep V8 on small-integer arithmetic (a Uint32 past 2^31 is a double).
  if (dataType === DataType.FLOAT) {
    const words = new Int32Array(buffer, byteOffset, byteLength >>> 2);
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      if ((w & 0x7f800000) === 0x7f800000) {
        if ((w & 0x7fffff) === 0) counts.inf++;
        else counts.nan++;
      }
    }
  } else if (dataType === DataType.DOUBLE) {
    const words = new Int32Array(buffer, byteOffset, byteLength >>> 2);
    for (let i = 0; i < words.length; i += 2) {
      const high = words[i + 1];
      if ((high & 0x7ff00000) === 0x7ff00000) {
        if ((high & 0xfffff) === 0 && words[i] === 0) counts.inf++;
        else counts.nan++;
      }
    }
  } else {
    // fp16: exponent 0x7c00; bf16 (the top half of an fp32): 0x7f80.
    const ones = dataType === DataType.FLOAT16 ? 0x7c00 : 0x7f80;
    const halves = new Uint16Array(buffer, byteOffset, byteLength >>> 1);
    for (let i = 0; i < halves.length; i++) {
      const a = halves[i] & 0x7fff;
      if (a >= ones) {
        if (a === ones) counts.inf++;
        else counts.nan++;
      }
    }
  }
}
