import { create } from "@bufbuild/protobuf";
import { TensorProtoSchema, type TensorProto } from "onnx-buf";
import type { WeightSpec } from "./graph-builder.ts";
import { fillNormal, tensorSeed } from "./rng.ts";

/**
 * The bytes of one built weight (little-endian fp32, or bytes for booleans), generated from
 * the model seed and the weight's name alone.
 */
export function generateWeight(spec: WeightSpec, seed: number, specs: Map<string, WeightSpec>): Uint8Array<ArrayBuffer> {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const init = spec.init;
  switch (init.kind) {
    case "normal":
      return bytesOf(fillNormal(new Float32Array(n), init.std, tensorSeed(seed, spec.name)));
    case "zeros":
      return bytesOf(new Float32Array(n));
    case "ones":
      return bytesOf(new Float32Array(n).fill(1));
    case "sinusoidal":
      return bytesOf(sinusoidal(spec.shape[0], spec.shape[1]));
    case "causal": {
      const size = spec.shape[spec.shape.length - 1];
      const out = new Uint8Array(n);
      for (let r = 0; r < size; r++) out.fill(1, r * size, r * size + r + 1);
      return out;
    }
    case "transposeOf": {
      const source = specs.get(init.source);
      if (!source) throw new Error(`built weight ${spec.name} ties to unknown ${init.source}`);
      const values = new Float32Array(generateWeight(source, seed, specs).buffer);
      const [rows, cols] = source.shape;
      const out = new Float32Array(n);
      // Blocked transpose keeps both arrays' accesses within cache lines.
      const B = 64;
      for (let r0 = 0; r0 < rows; r0 += B) {
        for (let c0 = 0; c0 < cols; c0 += B) {
          const r1 = Math.min(rows, r0 + B);
          const c1 = Math.min(cols, c0 + B);
          for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = values[r * cols + c];
        }
      }
      return bytesOf(out);
    }
  }
}

/**
 * HF's PegasusSinusoidalPositionalEmbedding._init_weight: position / 10000^(2i/dim); sines
 * fill the first half of each row and cosines the second (not interleaved).
 */
export function sinusoidal(positions: number, dim: number): Float32Array {
  const out = new Float32Array(positions * dim);
  const half = Math.ceil(dim / 2);
  for (let p = 0; p < positions; p++) {
    for (let j = 0; j < dim; j++) {
      const angle = p / 10000 ** ((2 * Math.floor(j / 2)) / dim);
      if (j % 2 === 0) out[p * dim + j / 2] = Math.sin(angle);
      else out[p * dim + half + (j - 1) / 2] = Math.cos(angle);
    }
  }
  return out;
}

function bytesOf(a: Float32Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(a.buffer as ArrayBuffer, a.byteOffset, a.byteLength);
}

export interface TensorFields {
  rawData?: TensorProto["rawData"];
  dataLocation?: TensorProto["dataLocation"];
  externalData?: TensorProto["externalData"];
}

export function tensorOf(spec: WeightSpec, fields: TensorFields): TensorProto {
  return create(TensorProtoSchema, { name: spec.name, dataType: spec.dataType, dims: spec.shape.map((d) => BigInt(d)), ...fields });
}
