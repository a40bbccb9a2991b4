import { existsSync, statSync } from "node:fs";
import { mapModel } from "../models/index.ts";
import type { Family } from "../models/types.ts";
import { graphOf, readModel } from "../onnx/model.ts";
import { externalDataFiles, readFloat32 } from "../onnx/tensor.ts";

export interface ModelFacts {
  /** Parameters counted once (tied copies skipped): structured pruning lowers it. */
  params: number;
  nonzeroParams: number;
  /** The .onnx file plus its external data files. */
  sizeBytes: number;
}

/** Parameter and non-zero counts of a model file, one tensor at a time. */
export function modelFacts(file: string, family?: Family): ModelFacts {
  const model = readModel(file);
  const map = mapModel(model, { family });
  const byName = new Map(graphOf(model).initializer.map((t) => [t.name, t]));
  let params = 0;
  let zeros = 0;
  for (const p of map.params) {
    const tensor = byName.get(p.name);
    if (!tensor) continue;
    if (p.duplicateOf) continue;
    params += p.count;
    if (p.dataType === 1 || p.dataType === 10 || p.dataType === 16) {
      const { data } = readFloat32(model, tensor);
      for (let i = 0; i < data.length; i++) if (data[i] === 0) zeros++;
    }
  }
  let sizeBytes = statSync(file).size;
  for (const f of externalDataFiles(model)) if (existsSync(f)) sizeBytes += statSync(f).size;
  return { params, nonzeroParams: params - zeros, sizeBytes };
}
