/** onnxruntime feeds for a batch of examples, by the names exporters give transformer inputs. */
import type { ModelProto } from "onnx-buf";
import { emptyPastDims, isPastInput } from "../eval/feeds.ts";
import { graphOf, type OnnxModel } from "../onnx/model.ts";
import { Tensor } from "../eval/session.ts";
import { DataType } from "../onnx/dtype.ts";
import type { Example } from "./batches.ts";
import { UserError } from "../errors.ts";

export class FeedError extends UserError {}

/** Integer feeds in the element type a graph input declares. */
function intTensor(dataType: number, values: ArrayLike<number>, dims: number[]): Tensor {
  if (dataType === DataType.INT32) return new Tensor("int32", Int32Array.from(values), dims);
  if (dataType === DataType.INT64) return new Tensor("int64", BigInt64Array.from(Array.from(values), (v) => BigInt(v)), dims);
  if (dataType === DataType.FLOAT) return new Tensor("float32", Float32Array.from(values), dims);
  throw new Error(`unsupported input type ${DataType[dataType] ?? dataType}`);
}

export function inputTypes(proto: ModelProto): Map<string, number> {
  const out = new Map<string, number>();
  for (const i of proto.graph!.input) if (i.type?.value.case === "tensorType") out.set(i.name, i.type.value.value.elemType);
  return out;
}

export function batchFeeds(examples: Example[], inputs: string[], types: Map<string, number>, extra: Record<string, Tensor> = {}): Record<string, Tensor> {
  const B = examples.length;
  const S = examples[0].input_ids.length;
  const T = examples[0].decoder_input_ids?.length ?? 0;
  const feeds: Record<string, Tensor> = {};
  const fill = (v: number, n: number) => new Array<number>(n).fill(v);
  for (const name of inputs) {
    if (name in extra) {
      feeds[name] = extra[name];
      continue;
    }
    const type = types.get(name)!;
    let values: number[];
    let len = S;
    switch (name) {
      case "input_ids":
        values = examples.flatMap((e) => e.input_ids);
        break;
      case "labels":
        values = examples.flatMap((e) => e.labels);
        len = examples[0].labels.length;
        break;
      case "decoder_input_ids":
        if (!T) throw new FeedError("the model has a decoder_input_ids input, but the examples have no decoder side (is the family encoder-decoder?)");
        values = examples.flatMap((e) => e.decoder_input_ids!);
        len = T;
        break;
      case "attention_mask":
      case "input_mask":
        values = fill(1, B * S);
        break;
      case "decoder_attention_mask":
        values = fill(1, B * T);
        len = T;
        break;
      case "token_type_ids":
      case "segment_ids":
        values = fill(0, B * S);
        break;
      case "position_ids":
        values = examples.flatMap(() => Array.from({ length: S }, (_, i) => i));
        break;
      default:
        throw new FeedError(`the model input ${JSON.stringify(name)} is not one prunebench knows how to feed (input_ids, attention_mask, token_type_ids, position_ids, decoder_input_ids, decoder_attention_mask)`);
    }
    feeds[name] = intTensor(type, values, [B, len]);
  }
  return feeds;
}

/**
 * Empty fp32 KV caches (past length 0) for every past input of a model (the training view is
 * fp32), so a cache export trains as a plain forward pass.
 */
export function emptyPastFeeds(model: OnnxModel, batch: number): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const input of graphOf(model).input) {
    if (!isPastInput(input.name)) continue;
    const shape = input.type?.value.case === "tensorType" ? (input.type.value.value.shape?.dim ?? []).map((d) => (d.value.case === "dimValue" ? Number(d.value.value) : d.value.case === "dimParam" ? d.value.value : undefined)) : [];
    const dims = emptyPastDims(shape, batch);
    if (!dims) throw new FeedError(`${model.file}: input ${JSON.stringify(input.name)} (a KV cache) declares no shape; training cannot build an empty one`);
    feeds[input.name] = new Tensor("float32", new Float32Array(0), dims);
  }
  return feeds;
}

export function scaleTensor(value: number): Tensor {
  return new Tensor("float32", new Float32Array([value]), []);
}
