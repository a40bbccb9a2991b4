/**
 * The weights the training loop works on: read from the model into optimizer states with their
 * masks (tied copies folded onto their originals), and written back into the inference model in
 * each weight's own type.
 */
import { create } from "@bufbuild/protobuf";
import { TensorProtoSchema, type TensorProto } from "onnx-buf";
import { isFloatType } from "../onnx/dtype.ts";
import { graphOf, type OnnxModel } from "../onnx/model.ts";
import { readFloat32, setFloatValues } from "../onnx/tensor.ts";
import type { Masks } from "./masks.ts";
import { newParamState, type ParamState } from "./optimizer.ts";
import { transpose2d, type TiedCopy } from "./tied.ts";
import type { TrainingGraph } from "./training-graph.ts";

/** Values of named float initializers (fp32, fp16, bf16), as written in the output model, in fp32. */
export function floatValues(model: OnnxModel, names: string[]): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const t of graphOf(model).initializer) if (names.includes(t.name) && isFloatType(t.dataType)) out.set(t.name, readFloat32(model, t).data);
  return out;
}

/** One optimizer state per trained weight, fp32, with its mask (a tied copy's mask folded onto its original). */
export function initialStates(model: OnnxModel, graph: TrainingGraph, masks?: Masks): ParamState[] {
  const inits = new Map(graphOf(model).initializer.map((t) => [t.name, t]));
  const own = new Map<string, Uint8Array>();
  for (const [name, mask] of masks ?? []) {
    const tie = graph.tied.find((t) => t.copy === name);
    const target = tie ? tie.of : name;
    const dims = inits.get(target)?.dims.map(Number);
    if (!dims) throw new Error(`${model.file}: the mask names ${JSON.stringify(name)}, which is not an initializer of the model`);
    let m = mask;
    if (tie?.transposed) m = Uint8Array.from(transpose2d(Float32Array.from(mask), dims[1], dims[0]));
    const count = dims.reduce((a, b) => a * b, 1);
    if (m.length !== count) throw new Error(`${model.file}: the mask for ${JSON.stringify(name)} has ${m.length} entries; the weight has ${count}`);
    const prev = own.get(target);
    own.set(target, prev ? prev.map((v, i) => v & m[i]) : m);
  }
  const trained = new Set(graph.params.map((p) => p.name));
  for (const name of own.keys()) {
    if (!trained.has(name)) throw new Error(`${model.file}: the mask names ${JSON.stringify(name)}, which is not trained (frozen, or it does not reach the loss)`);
  }
  return graph.params.map((p) => newParamState(p.name, Float32Array.from(readFloat32(model, inits.get(p.name)!).data), p.dims.length >= 2, own.get(p.name)));
}

/**
 * The inference model with new weights (tied copies rewritten from their originals), each in
 * its own type (fp16 weights trained in fp32 are rounded back to fp16); the input model is not
 * modified.
 */
export function withWeights(model: OnnxModel, values: Map<string, Float32Array>, tied: TiedCopy[]): OnnxModel {
  const graph = graphOf(model);
  const replaced = (t: TensorProto, data: Float32Array<ArrayBuffer>) => {
    const out = create(TensorProtoSchema, { name: t.name, dims: t.dims, dataType: t.dataType });
    setFloatValues(out, data);
    return out;
  };
  const initializer = graph.initializer.map((t) => {
    const v = values.get(t.name);
    if (v) return replaced(t, Float32Array.from(v));
    const tie = tied.find((c) => c.copy === t.name);
    const src = tie && values.get(tie.of);
    if (tie && src) {
      const [r, c] = graph.initializer.find((x) => x.name === tie.of)!.dims.map(Number);
      return replaced(t, tie.transposed ? transpose2d(src, r, c) : Float32Array.from(src));
    }
    return t;
  });
  return { ...model, proto: { ...model.proto, graph: { ...graph, initializer } } };
}
