/** Pruning masks as training keeps them: 1 = weight trained, 0 = weight held at exactly zero. */
import type { OnnxModel } from "../onnx/model.ts";
import { graphOf } from "../onnx/model.ts";
import { readFloat32 } from "../onnx/tensor.ts";
import { DataType } from "../onnx/dtype.ts";
import { readMaskFile, type MaskEntry } from "../prune/mask-file.ts";
import type { Bitmask } from "../prune/bitmask.ts";

export type Masks = Map<string, Uint8Array>;

/**
 * Masks from the weights that are exactly zero in matrices (rank >= 2). A pruned model carries
 * its mask in its zeros; biases and norms, which can be zero at initialisation, are never masked.
 */
export function masksFromZeros(model: OnnxModel, names?: string[]): Masks {
  const masks: Masks = new Map();
  for (const t of graphOf(model).initializer) {
    if (t.dataType !== DataType.FLOAT || t.dims.length < 2 || (names && !names.includes(t.name))) continue;
    const data = readFloat32(model, t).data;
    let zeros = 0;
    const mask = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) {
      mask[i] = data[i] === 0 ? 0 : 1;
      zeros += 1 - mask[i];
    }
    if (zeros > 0) masks.set(t.name, mask);
  }
  return masks;
}

export interface SparsityReport {
  /** Fraction of masked-out weights that are exactly zero (1 when the masks are kept). */
  kept: number;
  /** Zeros over all masked tensors' elements. */
  sparsity: number;
  /** Tensors whose masked positions are not all zero. */
  violations: string[];
}

export function checkSparsity(values: Map<string, Float32Array>, masks: Masks): SparsityReport {
  let pruned = 0;
  let zeroAtPruned = 0;
  let zeros = 0;
  let total = 0;
  const violations: string[] = [];
  for (const [name, mask] of masks) {
    const v = values.get(name);
    if (!v) continue;
    let bad = false;
    for (let i = 0; i < v.length; i++) {
      if (v[i] === 0) zeros++;
      if (!mask[i]) {
        pruned++;
        if (v[i] === 0) zeroAtPruned++;
        else bad = true;
      }
    }
    total += v.length;
    if (bad) violations.push(name);
  }
  return { kept: pruned ? zeroAtPruned / pruned : 1, sparsity: total ? zeros / total : 0, violations };
}

/** Keep-masks of a prunebench mask file (tied copies are left to the training graph, which recomputes them). */
export function loadMasks(file: string): Masks {
  const maskFile = readMaskFile(file);
  const out: Masks = new Map();
  for (const t of maskFile.header.tensors) {
    if (t.copyOf) continue;
    out.set(t.name, bitsToBytes(maskFile.mask(t.name)!));
  }
  return out;
}

/** Masks from the entries pruneModel returns. */
export function masksFromEntries(entries: readonly MaskEntry[]): Masks {
  return new Map(entries.map((e) => [e.name, bitsToBytes(e.mask)]));
}

function bitsToBytes(mask: Bitmask): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) out[i] = mask.get(i) ? 1 : 0;
  return out;
}
