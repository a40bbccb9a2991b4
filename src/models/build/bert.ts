import { DataType } from "../../onnx/dtype.ts";
import type { ArchitectureConfig } from "./config.ts";
import { GraphBuilder } from "./graph-builder.ts";
import { INIT_STD, attentionCore, foldedLinear, geluErf, layerNorm, paddingMask, positions, sequenceLength } from "./layers.ts";

const EPS = 1e-12;
const TYPE_VOCAB = 2;

/**
 * BertForMaskedLM as optimum exports it (post-LN, erf GELU, nn.Linear weights folded to
 * nameless [in, out] MatMul initializers, MLM decoder tied to the word embeddings as a
 * transposed copy), plus BertModel's pooler as a second output, so the base model holds the
 * 109,482,240 parameters the study counted for bert-base.
 */
export function buildBert(s: ArchitectureConfig): GraphBuilder {
  const b = new GraphBuilder();
  const d = s.dModel;
  const ids = b.input("input_ids", DataType.INT64, ["batch_size", "sequence_length"]);
  const mask = b.input("attention_mask", DataType.INT64, ["batch_size", "sequence_length"]);
  const types = b.input("token_type_ids", DataType.INT64, ["batch_size", "sequence_length"]);
  const word = b.weight("bert.embeddings.word_embeddings.weight", [s.vocab, d], { kind: "normal", std: INIT_STD });
  const pos = b.weight("bert.embeddings.position_embeddings.weight", [s.positions, d], { kind: "normal", std: INIT_STD });
  const type = b.weight("bert.embeddings.token_type_embeddings.weight", [TYPE_VOCAB, d], { kind: "normal", std: INIT_STD });
  const length = sequenceLength(b, ids);
  let h = b.scope("embeddings", () => {
    const sum = b.op1("Add", [b.op1("Add", [b.op1("Gather", [word, ids], { axis: 0 }), positions(b, pos, length)]), b.op1("Gather", [type, types], { axis: 0 })]);
    return layerNorm(b, sum, "bert.embeddings.LayerNorm", d, EPS);
  });
  const padding = paddingMask(b, mask);
  for (let i = 0; i < s.layers; i++) {
    const p = `bert.encoder.layer.${i}`;
    h = b.scope(`layer.${i}`, () => {
      const attn = b.scope("attention", () => {
        const q = foldedLinear(b, h, `${p}.attention.self.query.bias`, d, d);
        const k = foldedLinear(b, h, `${p}.attention.self.key.bias`, d, d);
        const v = foldedLinear(b, h, `${p}.attention.self.value.bias`, d, d);
        const context = attentionCore(b, q, k, v, { heads: s.heads, dModel: d, scaleScores: true, padding });
        return foldedLinear(b, context, `${p}.attention.output.dense.bias`, d, d);
      });
      const a = layerNorm(b, b.op1("Add", [attn, h]), `${p}.attention.output.LayerNorm`, d, EPS);
      const mlp = b.scope("mlp", () => foldedLinear(b, geluErf(b, foldedLinear(b, a, `${p}.intermediate.dense.bias`, d, s.dFF)), `${p}.output.dense.bias`, s.dFF, d));
      return layerNorm(b, b.op1("Add", [mlp, a]), `${p}.output.LayerNorm`, d, EPS);
    });
  }
  b.scope("cls", () => {
    const t = geluErf(b, foldedLinear(b, h, "cls.predictions.transform.dense.bias", d, d));
    const n = layerNorm(b, t, "cls.predictions.transform.LayerNorm", d, EPS);
    const decoder = b.weight(b.foldedName(), [d, s.vocab], { kind: "transposeOf", source: word });
    const bias = b.weight("cls.predictions.bias", [s.vocab], { kind: "zeros" });
    b.op("Add", [b.op1("MatMul", [n, decoder]), bias], {}, 1, ["logits"]);
  });
  b.scope("pooler", () => {
    const first = b.op1("Gather", [h, b.constInt([0], true)], { axis: 1 });
    b.op("Tanh", [foldedLinear(b, first, "bert.pooler.dense.bias", d, d)], {}, 1, ["pooler_output"]);
  });
  b.output("logits", DataType.FLOAT, ["batch_size", "sequence_length", s.vocab]);
  b.output("pooler_output", DataType.FLOAT, ["batch_size", d]);
  return b;
}
