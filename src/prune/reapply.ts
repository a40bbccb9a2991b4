import type { TensorProto } from "onnx-buf";
import { dataTypeName, elementBytes, isFloatType } from "../onnx/dtype.ts";
import { graphOf, type OnnxModel } from "../onnx/model.ts";
import { elementCount, materialize, tensorShape } from "../onnx/tensor.ts";
import { PruneError } from "./errors.ts";
import { zeroBytes } from "./load.ts";
import type { MaskFile } from "./mask-file.ts";

/**
 * Re-applies a mask file to a model (after fine-tuning, or to an externally trained one):
 * every masked tensor gets zeros where its mask is 0, in its own type, in place in `model`
 * (write it with writeModel afterwards). Tensors are matched by name and their shapes must
 * equal the mask's; a mask naming a tensor the model lacks is an error, since silently
 * skipping it would leave weights dense.
 */
export function reapplyMasks(model: OnnxModel, masks: MaskFile): { tensors: number; zeroed: number } {
  const byName = new Map<string, TensorProto>(graphOf(model).initializer.map((t) => [t.name, t]));
  let zeroed = 0;
  for (const info of masks.header.tensors) {
    const tensor = byName.get(info.name);
    const where = `${masks.file}: tensor ${JSON.stringify(info.name)}`;
    if (!tensor) throw new PruneError(`${where} is not an initializer of ${model.file}`);
    const shape = tensorShape(model, tensor);
    if (shape.length !== info.shape.length || shape.some((d, i) => d !== info.shape[i])) {
      throw new PruneError(`${where}: mask shape [${info.shape.join(", ")}] but ${model.file} has [${shape.join(", ")}]`);
    }
    if (!isFloatType(tensor.dataType)) throw new PruneError(`${where}: ${dataTypeName(tensor.dataType)} in ${model.file}, not a float tensor`);
    const mask = masks.mask(info.name)!;
    const bytes = materialize(model, tensor);
    zeroBytes(bytes, elementBytes(tensor.dataType)!, mask);
    zeroed += elementCount(shape) - mask.kept();
  }
  return { tensors: masks.header.tensors.length, zeroed };
}
