import path from "node:path";
import * as ort from "onnxruntime-node";
import { DataType, floatToHalf, graphOf, type OnnxModel } from "../../src/onnx/index.ts";

/**
 * Token-id ranges of the shared models (SOURCES.md): ids at or past these make Gather fail,
 * or read past an embedding table.
 */
const VOCAB: Record<string, number> = {
  "bert-tf-qa-tiny": 20,
  "bert-toy-mlm": 99,
  "distilbert-tiny-cls": 30522,
  "gpt2-tiny-plain-nohead": 20,
  "gpt2-tiny-random": 1000,
  "llama-tiny-random-fp16": 32000,
  "t5-dummy-beamsearch": 20,
  gpt2: 50257,
  bert: 30522,
  pegasus: 50257,
};

// Past length 0: the genai-built llama refuses a multi-token step on top of a past (its mask Expand fails).
export const FEED_SIZES = { batch: 2, sequence: 5, decoder: 4, past: 0 };

/** Size chosen for a symbolic input dimension, by what its name says it is. */
function symbolSize(name: string): number {
  const n = name.toLowerCase();
  if (n.includes("batch")) return FEED_SIZES.batch;
  if (n.includes("past")) return FEED_SIZES.past;
  if (n.includes("total")) return FEED_SIZES.past + FEED_SIZES.sequence;
  if (n.includes("decod")) return FEED_SIZES.decoder;
  return FEED_SIZES.sequence;
}

/**
 * A fixed, valid input for any of the shared models, built from its declared inputs: ids
 * inside the model's vocabulary, masks of ones, token types of zero, position ids that
 * continue the past, past tensors of small deterministic values, int32 or int64 or fp16 as
 * each input declares.
 */
export function feedsFor(model: OnnxModel): Record<string, ort.Tensor> {
  const vocab = VOCAB[path.basename(path.dirname(model.file))] ?? 2;
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of graphOf(model).input) {
    if (graphOf(model).initializer.some((t) => t.name === input.name)) continue;
    const type = input.type?.value;
    if (type?.case !== "tensorType") continue;
    const dims = (type.value.shape?.dim ?? []).map((d) => (d.value.case === "dimValue" ? Number(d.value.value) : symbolSize(d.value.case === "dimParam" ? d.value.value : "")));
    const n = dims.reduce((a, b) => a * b, 1);
    const name = input.name.toLowerCase();
    const values = Array.from({ length: n }, (_, i) => {
      if (name.includes("ids") && name.includes("position")) return FEED_SIZES.past + (i % dims[dims.length - 1]);
      if (name.includes("ids") && !name.includes("type")) return (i * 7919 + 13) % vocab;
      if (name.includes("mask")) return 1;
      if (name.includes("type")) return 0;
      return Math.sin(i * 0.37) * 0.5;
    });
    switch (type.value.elemType) {
      case DataType.INT64:
        feeds[input.name] = new ort.Tensor("int64", BigInt64Array.from(values, (v) => BigInt(Math.trunc(v))), dims);
        break;
      case DataType.INT32:
        feeds[input.name] = new ort.Tensor("int32", Int32Array.from(values, Math.trunc), dims);
        break;
      case DataType.FLOAT16:
        feeds[input.name] = new ort.Tensor("float16", Uint16Array.from(values, floatToHalf), dims);
        break;
      case DataType.FLOAT:
        feeds[input.name] = new ort.Tensor("float32", Float32Array.from(values), dims);
        break;
      default:
        throw new Error(`${model.file}: input ${input.name} has a type the test feeds do not cover`);
    }
  }
  return feeds;
}

/** Output bytes, for bit-exact comparison. */
export function outputBytes(tensor: ort.Tensor): Buffer {
  const data = tensor.data as ArrayBufferView;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
