/** Training a tiny built decoder from scratch, then fine-tuning it after 50% magnitude pruning with the masks kept. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildModel, mapModel } from "../src/models/index.ts";
import { bundledCorpus } from "../src/data/index.ts";
import { pruneModel } from "../src/prune/index.ts";
import { trainModel, finetune, floatValues } from "../src/train/train.ts";
import { masksFromEntries } from "../src/train/masks.ts";
import { decodeModel } from "../src/onnx/model.ts";
import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema } from "onnx-buf";

const corpus = bundledCorpus();
const bytes = (s: string) => Uint8Array.from(Buffer.from(s, "utf8"));
const tokens = bytes(corpus.split("train").slice(0, 100_000));
const valid = bytes(corpus.split("valid").slice(0, 20_000));
const sizes = { vocab: 256, layers: 1, dModel: 32, heads: 2, dFF: 64, positions: 64 };

test("a tiny decoder trained from scratch on the bundled corpus lowers validation perplexity 5x, then recovers after 50% magnitude pruning with sparsity exactly kept", async (t) => {
  const model = buildModel({ family: "decoder", preset: "tiny", sizes, seed: 1 });
  const scratch = await trainModel({ model, family: "decoder", tokens, validTokens: valid, steps: 80, lr: 1e-2, batch: 8, seqLen: 32, evalEvery: 40, seed: 0 });
  t.diagnostic(`from scratch: validation perplexity ${scratch.initial.perplexity.toFixed(1)} -> ${scratch.final.perplexity.toFixed(1)} in ${scratch.steps} steps, ${scratch.tokensPerSecond.toFixed(0)} tokens/s`);
  assert.ok(scratch.initial.perplexity / scratch.final.perplexity >= 5, `perplexity ${scratch.initial.perplexity} -> ${scratch.final.perplexity}`);
  assert.equal(scratch.tied.length, 1, "the tied LM head is trained as one tensor with the embedding");

  // Round trip through bytes: the tuned model is a plain inference model.
  const trained = decodeModel(toBinary(ModelProtoSchema, scratch.model.proto), "trained.onnx");
  // Every matrix, embeddings included: a model this small keeps much of what it knows in them.
  const pruned = await pruneModel(trained, mapModel(trained), { method: "magnitude", sparsity: 0.5, patterns: { include: ["*"] } });
  const masks = masksFromEntries(pruned.masks);
  assert.ok(masks.size >= 4, "attention and MLP matrices were pruned");
  const tuned = await finetune({ model: trained, family: "decoder", tokens, validTokens: valid, steps: 40, lr: 3e-3, batch: 8, seqLen: 32, evalEvery: 20, masks, seed: 2 });
  t.diagnostic(
    `dense ${scratch.final.perplexity.toFixed(2)}, pruned 50% ${tuned.initial.perplexity.toFixed(2)}, fine-tuned ${tuned.final.perplexity.toFixed(2)}; sparsity ${tuned.sparsity!.sparsity.toFixed(4)}`,
  );
  assert.ok(tuned.initial.perplexity > scratch.final.perplexity, "pruning costs perplexity");
  assert.ok(tuned.final.perplexity < tuned.initial.perplexity, "fine-tuning recovers part of it");
  assert.equal(tuned.sparsity!.kept, 1);
  assert.deepEqual(tuned.sparsity!.violations, []);
  // Every pruned weight is exactly zero in the written model, and the unpruned ones moved.
  const values = floatValues(tuned.model, [...masks.keys()]);
  for (const [name, mask] of masks) {
    const v = values.get(name)!;
    let zerosAtPruned = 0;
    let pruned = 0;
    for (let i = 0; i < v.length; i++) if (!mask[i]) {
      pruned++;
      if (Object.is(v[i], 0) || v[i] === 0) zerosAtPruned++;
    }
    assert.equal(zerosAtPruned, pruned, `${name}: pruned weights stay zero`);
    assert.ok(pruned / v.length > 0.45, `${name}: about half pruned`);
  }
});
