import { DataType } from "../../onnx/dtype.ts";
import type { ArchitectureConfig, BuildOptions } from "./config.ts";
import { GraphBuilder } from "./graph-builder.ts";
import { INIT_STD, attentionCore, causalMask, conv1d, geluTanh, layerNorm, paddingMask, positions, sequenceLength } from "./layers.ts";

const EPS = 1e-5;

/**
 * GPT2LMHeadModel as optimum exports it: Conv1D weights [in, out] under their own names, q/k/v
 * packed in c_attn and split, pre-LN, gelu_new, LM head tied to wte and written as a
 * transposed copy; with `kvCache`, optimum's "with past" inputs and outputs
 * (past_key_values.N.key/value, present.N.key/value).
 */
export function buildGpt2(s: ArchitectureConfig, options: Pick<BuildOptions, "kvCache"> = {}): GraphBuilder {
  const b = new GraphBuilder();
  const d = s.dModel;
  const dh = d / s.heads;
  const ids = b.input("input_ids", DataType.INT64, ["batch_size", "sequence_length"]);
  const mask = b.input("attention_mask", DataType.INT64, ["batch_size", options.kvCache ? "past_sequence_length + sequence_length" : "sequence_length"]);
  const caches = options.kvCache
    ? Array.from({ length: s.layers }, (_, i) => ({
        pastKey: b.input(`past_key_values.${i}.key`, DataType.FLOAT, ["batch_size", s.heads, "past_sequence_length", dh]),
        pastValue: b.input(`past_key_values.${i}.value`, DataType.FLOAT, ["batch_size", s.heads, "past_sequence_length", dh]),
        presentKey: `present.${i}.key`,
        presentValue: `present.${i}.value`,
      }))
    : undefined;
  const wte = b.weight("transformer.wte.weight", [s.vocab, d], { kind: "normal", std: INIT_STD });
  const wpe = b.weight("transformer.wpe.weight", [s.positions, d], { kind: "normal", std: INIT_STD });
  const buffer = b.weight("causal_mask", [1, 1, s.positions, s.positions], { kind: "causal" }, DataType.BOOL);
  const length = sequenceLength(b, ids);
  const past = caches ? sequenceLength(b, caches[0].pastKey, 2) : undefined;
  let h = b.op1("Add", [b.op1("Gather", [wte, ids], { axis: 0 }), positions(b, wpe, length, past)]);
  const padding = paddingMask(b, mask);
  const causal = causalMask(b, buffer, length, past);
  // GPT-2 scales the init of residual projections by 1/sqrt(2 * n_layer) (modeling_gpt2._init_weights).
  const residualStd = INIT_STD / Math.sqrt(2 * s.layers);
  for (let i = 0; i < s.layers; i++) {
    const p = `transformer.h.${i}`;
    h = b.scope(`h.${i}`, () => {
      const a = layerNorm(b, h, `${p}.ln_1`, d, EPS);
      const attn = b.scope("attn", () => {
        const qkv = conv1d(b, a, `${p}.attn.c_attn`, d, 3 * d);
        const [q, k, v] = b.op("Split", [qkv, b.constInt([d, d, d])], { axis: 2 }, 3);
        const context = attentionCore(b, q, k, v, { heads: s.heads, dModel: d, scaleScores: true, causal, padding, cache: caches?.[i] });
        return conv1d(b, context, `${p}.attn.c_proj`, d, d, residualStd);
      });
      const r = b.op1("Add", [attn, h]);
      const m = layerNorm(b, r, `${p}.ln_2`, d, EPS);
      const mlp = b.scope("mlp", () => conv1d(b, geluTanh(b, conv1d(b, m, `${p}.mlp.c_fc`, d, s.dFF)), `${p}.mlp.c_proj`, s.dFF, d, residualStd));
      return b.op1("Add", [r, mlp]);
    });
  }
  const out = layerNorm(b, h, "transformer.ln_f", d, EPS);
  const head = b.weight(b.foldedName(), [d, s.vocab], { kind: "transposeOf", source: wte });
  b.scope("lm_head", () => b.op("MatMul", [out, head], {}, 1, ["logits"]));
  b.output("logits", DataType.FLOAT, ["batch_size", "sequence_length", s.vocab]);
  for (const c of caches ?? []) {
    for (const name of [c.presentKey, c.presentValue]) b.output(name, DataType.FLOAT, ["batch_size", s.heads, "past_sequence_length + sequence_length", dh]);
  }
  return b;
}
