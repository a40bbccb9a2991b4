/**
 * Input tensors for a batch of examples, matched to what the session declares: int64 or int32
 * ids, masks of ones, zero token types, positions 0..S-1, and empty past key/values for
 * exports with a KV cache.
 */
import type * as ort from "onnxruntime-node";
import { Tensor } from "./session.ts";
import type { Family } from "../models/types.ts";
import { EvalInputError, type Example } from "./protocols.ts";

type IntType = "int64" | "int32";

function intTensor(type: IntType, values: ArrayLike<number>, dims: number[]): ort.Tensor {
  if (type === "int32") return new Tensor("int32", Int32Array.from(values), dims);
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]!);
  return new Tensor("int64", out, dims);
}

function filled(type: IntType, n: number, value: number, dims: number[]): ort.Tensor {
  return type === "int32" ? new Tensor("int32", new Int32Array(n).fill(value), dims) : new Tensor("int64", new BigInt64Array(n).fill(BigInt(value)), dims);
}

function stack(rows: Int32Array[]): Int32Array {
  const width = rows[0]!.length;
  const out = new Int32Array(rows.length * width);
  rows.forEach((r, i) => out.set(r, i * width));
  return out;
}

export interface FeedBuilder {
  (batch: Example[]): Record<string, ort.Tensor>;
}

/**
 * Returns a function that turns a batch (equal lengths) into feeds. Fails early, naming the
 * input, when the session wants something prunebench cannot supply.
 */
export function feedBuilder(session: ort.InferenceSession, family: Family, labels?: string): FeedBuilder {
  const meta = new Map(session.inputMetadata.map((m) => [m.name, m]));
  const typeOf = (name: string): IntType => {
    const m = meta.get(name);
    return m && m.isTensor && m.type === "int32" ? "int32" : "int64";
  };
  const known = new Set([...(labels ? [labels] : []), "input_ids", "attention_mask", "token_type_ids", "position_ids", "decoder_input_ids", "decoder_attention_mask", "encoder_attention_mask"]);
  const past = session.inputNames.filter(isPastInput);
  const unknown = session.inputNames.filter((n) => !known.has(n) && !past.includes(n));
  if (unknown.length) throw new EvalInputError(`the model has input${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} that evaluation cannot feed (known: ${[...known].join(", ")}, past*)`);
  if (family === "encoder-decoder" && !meta.has("decoder_input_ids")) throw new EvalInputError("an encoder-decoder model needs a decoder_input_ids input");
  if (!meta.has("input_ids")) throw new EvalInputError("the model has no input_ids input");

  return (batch) => {
    const B = batch.length;
    const S = batch[0]!.inputIds.length;
    const feeds: Record<string, ort.Tensor> = {};
    const has = (n: string) => meta.has(n);
    if (labels) feeds[labels] = intTensor("int64", stack(batch.map((e) => e.labels)), [B, S]);
    if (family === "encoder-decoder") {
      const Se = batch[0]!.encoderIds!.length;
      feeds.input_ids = intTensor(typeOf("input_ids"), stack(batch.map((e) => e.encoderIds!)), [B, Se]);
      if (has("attention_mask")) feeds.attention_mask = filled(typeOf("attention_mask"), B * Se, 1, [B, Se]);
      if (has("encoder_attention_mask")) feeds.encoder_attention_mask = filled(typeOf("encoder_attention_mask"), B * Se, 1, [B, Se]);
      feeds.decoder_input_ids = intTensor(typeOf("decoder_input_ids"), stack(batch.map((e) => e.inputIds)), [B, S]);
      if (has("decoder_attention_mask")) feeds.decoder_attention_mask = filled(typeOf("decoder_attention_mask"), B * S, 1, [B, S]);
    } else {
      feeds.input_ids = intTensor(typeOf("input_ids"), stack(batch.map((e) => e.inputIds)), [B, S]);
      if (has("attention_mask")) feeds.attention_mask = filled(typeOf("attention_mask"), B * S, 1, [B, S]);
      if (has("token_type_ids")) feeds.token_type_ids = filled(typeOf("token_type_ids"), B * S, 0, [B, S]);
    }
    if (has("position_ids")) {
      const pos = new Int32Array(B * S);
      for (let i = 0; i < pos.length; i++) pos[i] = i % S;
      feeds.position_ids = intTensor(typeOf("position_ids"), pos, [B, S]);
    }
    for (const name of past) feeds[name] = emptyPast(meta.get(name), B, name);
    return feeds;
  };
}

/** Whether a model input is a KV cache (past_0, past_key_values.0.key, past_key, ...): fed empty for a plain forward pass. */
export function isPastInput(name: string): boolean {
  return /^past/.test(name);
}

/**
 * The dimensions of a zero-length cache from its declared shape: symbolic batch dimensions
 * become B, other symbolic ones (the past length) 0. Null when no shape is declared.
 */
export function emptyPastDims(shape: readonly (number | string | undefined)[], B: number): number[] | null {
  if (shape.length === 0) return null;
  return shape.map((d) => (typeof d === "number" ? d : d && /batch/i.test(d) ? B : 0));
}

/** A zero-length cache of the session input's own type (float32 or float16). */
function emptyPast(m: ort.InferenceSession.ValueMetadata | undefined, B: number, name: string): ort.Tensor {
  const dims = m && m.isTensor ? emptyPastDims(m.shape, B) : null;
  if (!m || !m.isTensor || !dims) throw new EvalInputError(`input ${name} (a KV cache) has no declared shape; evaluation cannot build an empty one`);
  if (m.type === "float16") return new Tensor("float16", new Uint16Array(0), dims);
  if (m.type === "float32") return new Tensor("float32", new Float32Array(0), dims);
  throw new EvalInputError(`input ${name} has type ${m.type}; only float32 and float16 caches are supported`);
}
