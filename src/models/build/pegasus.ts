import { DataType } from "../../onnx/dtype.ts";
import type { ArchitectureConfig } from "./config.ts";
import { GraphBuilder } from "./graph-builder.ts";
import { INIT_STD, attentionCore, causalMask, foldedLinear, layerNorm, paddingMask, positions, sequenceLength, type AttentionCore } from "./layers.ts";

const EPS = 1e-5;

/**
 * PegasusForConditionalGeneration as optimum exports it (no past): pre-LN, embeddings scaled
 * by sqrt(d_model), fixed sinusoidal position tables (one per stack, as torch counts them),
 * ReLU MLPs, final layer norms on both stacks, q scaled by head_size^-0.5 after projection,
 * LM head tied to model.shared (written as a transposed copy) plus final_logits_bias.
 */
export function buildPegasus(s: ArchitectureConfig): GraphBuilder {
  const b = new GraphBuilder();
  const d = s.dModel;
  const scaling = (d / s.heads) ** -0.5;
  const ids = b.input("input_ids", DataType.INT64, ["batch_size", "encoder_sequence_length"]);
  const mask = b.input("attention_mask", DataType.INT64, ["batch_size", "encoder_sequence_length"]);
  const decIds = b.input("decoder_input_ids", DataType.INT64, ["batch_size", "decoder_sequence_length"]);
  const shared = b.weight("model.shared.weight", [s.vocab, d], { kind: "normal", std: INIT_STD });
  const encPos = b.weight("model.encoder.embed_positions.weight", [s.positions, d], { kind: "sinusoidal" });
  const decPos = b.weight("model.decoder.embed_positions.weight", [s.positions, d], { kind: "sinusoidal" });
  const buffer = b.weight("causal_mask", [1, 1, s.positions, s.positions], { kind: "causal" }, DataType.BOOL);
  const embedScale = Math.sqrt(d);

  const attention = (prefix: string, x: string, kv: string, core: AttentionCore) => {
    const q = b.op1("Mul", [foldedLinear(b, x, `${prefix}.q_proj.bias`, d, d), b.constFloat(scaling)]);
    const k = foldedLinear(b, kv, `${prefix}.k_proj.bias`, d, d);
    const v = foldedLinear(b, kv, `${prefix}.v_proj.bias`, d, d);
    return foldedLinear(b, attentionCore(b, q, k, v, core), `${prefix}.out_proj.bias`, d, d);
  };
  const mlp = (prefix: string, x: string) =>
    b.scope("mlp", () => foldedLinear(b, b.op1("Relu", [foldedLinear(b, x, `${prefix}.fc1.bias`, d, s.dFF)]), `${prefix}.fc2.bias`, s.dFF, d));
  const embed = (input: string, table: string) => {
    const length = sequenceLength(b, input);
    const tokens = b.op1("Mul", [b.op1("Gather", [shared, input], { axis: 0 }), b.constFloat(embedScale)]);
    return { h: b.op1("Add", [tokens, positions(b, table, length)]), length };
  };

  const encoderPadding = paddingMask(b, mask);
  let h = b.scope("encoder", () => embed(ids, encPos).h);
  for (let i = 0; i < s.layers; i++) {
    const p = `model.encoder.layers.${i}`;
    h = b.scope(`encoder/layers.${i}`, () => {
      const a = layerNorm(b, h, `${p}.self_attn_layer_norm`, d, EPS);
      const r = b.op1("Add", [h, b.scope("self_attn", () => attention(`${p}.self_attn`, a, a, { heads: s.heads, dModel: d, scaleScores: false, padding: encoderPadding }))]);
      return b.op1("Add", [r, mlp(p, layerNorm(b, r, `${p}.final_layer_norm`, d, EPS))]);
    });
  }
  const memory = b.scope("encoder", () => layerNorm(b, h, "model.encoder.layer_norm", d, EPS));

  const dec = b.scope("decoder", () => embed(decIds, decPos));
  const causal = b.scope("decoder", () => causalMask(b, buffer, dec.length));
  let y = dec.h;
  for (let i = 0; i < (s.decoderLayers ?? s.layers); i++) {
    const p = `model.decoder.layers.${i}`;
    y = b.scope(`decoder/layers.${i}`, () => {
      const a = layerNorm(b, y, `${p}.self_attn_layer_norm`, d, EPS);
      const r1 = b.op1("Add", [y, b.scope("self_attn", () => attention(`${p}.self_attn`, a, a, { heads: s.heads, dModel: d, scaleScores: false, causal }))]);
      const c = layerNorm(b, r1, `${p}.encoder_attn_layer_norm`, d, EPS);
      const r2 = b.op1("Add", [r1, b.scope("encoder_attn", () => attention(`${p}.encoder_attn`, c, memory, { heads: s.heads, dModel: d, scaleScores: false, padding: encoderPadding }))]);
      return b.op1("Add", [r2, mlp(p, layerNorm(b, r2, `${p}.final_layer_norm`, d, EPS))]);
    });
  }
  const out = b.scope("decoder", () => layerNorm(b, y, "model.decoder.layer_norm", d, EPS));
  b.scope("lm_head", () => {
    const head = b.weight(b.foldedName(), [d, s.vocab], { kind: "transposeOf", source: shared });
    const bias = b.weight("final_logits_bias", [1, s.vocab], { kind: "zeros" });
    b.op("Add", [b.op1("MatMul", [out, head]), bias], {}, 1, ["logits"]);
  });
  b.output("logits", DataType.FLOAT, ["batch_size", "decoder_sequence_length", s.vocab]);
  return b;
}
