import { Bitmask } from "../bitmask.ts";
import { PruneError } from "../errors.ts";
import type { MaskSet, PruneMethod, PruneTarget } from "../types.ts";

/** N:M semi-structured sparsity: N of every M consecutive inputs are kept (2:4 keeps 2, zeroes 2). */
export interface NMOptions {
  n: number;
  m: number;
}

/** The run id part of an N:M pattern written as a string under `pattern` or `nm` (methods with an N:M option). */
export function patternPart(raw: Record<string, unknown>): string[] {
  const pattern = raw.pattern ?? raw.nm;
  return typeof pattern === "string" ? [pattern] : [];
}

export function parseNM(raw: unknown, where = "nm"): NMOptions {
  let n: unknown;
  let m: unknown;
  if (typeof raw === "string") {
    const match = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(raw);
    if (!match) throw new PruneError(`${where}: ${JSON.stringify(raw)} is not N:M (e.g. "2:4")`);
    n = Number(match[1]);
    m = Number(match[2]);
  } else if (raw && typeof raw === "object") {
    ({ n, m } = raw as { n?: unknown; m?: unknown });
  } else {
    throw new PruneError(`${where}: give the pattern as "N:M" (e.g. "2:4")`);
  }
  if (!Number.isSafeInteger(m) || (m as number) < 1) throw new PruneError(`${where}: M = ${String(m)} must be a positive integer`);
  if (!Number.isSafeInteger(n) || (n as number) < 1) throw new PruneError(`${where}: N = ${String(n)} must be a positive integer (N weights of every M are kept)`);
  if ((n as number) > (m as number)) throw new PruneError(`${where}: N = ${String(n)} > M = ${String(m)}: a group of M weights cannot keep more than M`);
  return { n: n as number, m: m as number };
}

/**
 * Input and output sizes of a matrix from its layout: ONNX MatMul weights are [in, out] (groups
 * run down a column), Gemm with transB=1 and Gather tables are [out, in] (groups run along a row).
 */
function inputAxis(t: PruneTarget): { inputs: number; outputs: number; inOut: boolean } {
  if (t.shape.length !== 2) throw new PruneError(`${t.name}: N:M needs a 2-D matrix, this tensor has shape [${t.shape.join(", ")}]`);
  if (!t.layout) throw new PruneError(`${t.name}: N:M needs to know the matrix's input axis, and the model map gives no layout for it`);
  const inOut = t.layout === "in_out";
  return { inputs: inOut ? t.shape[0] : t.shape[1], outputs: inOut ? t.shape[1] : t.shape[0], inOut };
}

/**
 * In each group the M-N smallest |w| are pruned; among equal |w| the lower input index goes
 * first, the same tie rule as the other methods. A group's ranks are counted pairwise (M is
 * small: 4, 8, 16), which needs no sorting and no allocation.
 */
export function nmMasks(targets: readonly PruneTarget[], { n, m }: NMOptions): MaskSet {
  const masks: MaskSet = new Map();
  const drop = m - n;
  const keys = new Uint32Array(m);
  const index = new Float64Array(m);
  for (const t of targets) {
    const { inputs, outputs, inOut } = inputAxis(t);
    if (inputs % m !== 0) throw new PruneError(`${t.name}: input dimension ${inputs} is not a multiple of M = ${m} (shape [${t.shape.join(", ")}], layout ${t.layout})`);
    const bits = new Uint32Array(t.weights.buffer, t.weights.byteOffset, t.count);
    const mask = Bitmask.full(t.count);
    if (drop === 0) {
      masks.set(t.name, mask);
      continue;
    }
    // Element (input i, output o) sits at i*outputs+o for [in, out] and o*inputs+i for [out, in].
    const inStride = inOut ? outputs : 1;
    const outStride = inOut ? 1 : inputs;
    for (let o = 0; o < outputs; o++) {
      for (let g = 0; g < inputs; g += m) {
        for (let j = 0; j < m; j++) {
          const at = (g + j) * inStride + o * outStride;
          index[j] = at;
          const key = bits[at] & 0x7fffffff;
          if (key > 0x7f800000) throw new PruneError(`${t.name}: weight ${at} is NaN; magnitude pruning cannot rank it (fix or exclude the tensor)`);
          keys[j] = key;
        }
        for (let j = 0; j < m; j++) {
          const kj = keys[j];
          let rank = 0;
          for (let i = 0; i < m; i++) if (keys[i] < kj || (keys[i] === kj && i < j)) rank++;
          if (rank < drop) mask.prune(index[j]);
        }
      }
    }
    masks.set(t.name, mask);
  }
  return masks;
}

export const nm: PruneMethod<NMOptions> = {
  name: "nm",
  description: "N:M semi-structured: keep the N largest |w| of every M consecutive inputs of each output",
  scope: "group",
  calibrated: false,
  optionKey: "pattern",
  parseOptions: (raw) => {
    const pattern = raw.pattern ?? raw.nm ?? (raw.n !== undefined || raw.m !== undefined ? { n: raw.n, m: raw.m } : "2:4");
    return parseNM(pattern, "nm pattern");
  },
  impliedSparsity: ({ n, m }) => (m - n) / m,
  runIdParts: (raw) => (typeof raw.pattern === "string" ? [raw.pattern] : []),
  describeOptions: ({ n, m }) => ({ pattern: `${n}:${m}` }),
  selectMasks: (targets, { options }) => nmMasks(targets, options),
};
