/** keepBest: fine-tuning that only hurts on validation gives back the weights it started from. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildModel } from "../src/models/index.ts";
import { bundledCorpus } from "../src/data/index.ts";
import { trainModel, finetune, floatValues } from "../src/train/train.ts";
import { BestWeights } from "../src/train/best.ts";

test("BestWeights keeps a copy of the lowest loss (the start included) and restores it", () => {
  const states = [{ value: Float32Array.of(1, 2) }, { value: Float32Array.of(3) }];
  const keeper = BestWeights.from({ step: 0, loss: 2 }, states);
  states[0].value.set([5, 5]);
  assert.equal(keeper.offer({ step: 10, loss: 2.5 }, states), false);
  states[1].value.set([7]);
  const worse = { step: 20, loss: 3 };
  assert.equal(keeper.offer(worse, states), false);
  keeper.restore(worse, states);
  assert.deepEqual([...states[0].value, ...states[1].value], [1, 2, 3]);
  states[0].value.set([4, 4]);
  const better = { step: 30, loss: 1 };
  assert.equal(keeper.offer(better, states), true);
  states[0].value.set([9, 9]);
  keeper.restore({ step: 40, loss: 1.5 }, states);
  assert.deepEqual([...states[0].value], [4, 4]);
  assert.equal(keeper.best, better);
});

test("fine-tuning with keepBest is never worse on validation than its start; without it, it is", async (t) => {
  const corpus = bundledCorpus();
  const bytes = (s: string) => Uint8Array.from(Buffer.from(s, "utf8"));
  const tokens = bytes(corpus.split("train").slice(0, 60_000));
  const valid = bytes(corpus.split("valid").slice(0, 10_000));
  const sizes = { vocab: 256, layers: 1, dModel: 32, heads: 2, dFF: 64, positions: 64 };
  const base = await trainModel({ model: buildModel({ family: "decoder", preset: "tiny", sizes, seed: 1 }), family: "decoder", tokens, validTokens: valid, steps: 40, lr: 1e-2, batch: 8, seqLen: 32, evalEvery: 40, seed: 0 });
  // A learning rate far too high: every step makes the model worse.
  const recipe = { model: base.model, family: "decoder" as const, tokens, validTokens: valid, steps: 6, lr: 0.3, batch: 8, seqLen: 32, evalEvery: 3, seed: 3 };
  const plain = await finetune(recipe);
  const kept = await finetune({ ...recipe, keepBest: true });
  t.diagnostic(`validation loss ${plain.initial.loss.toFixed(3)} -> ${plain.final.loss.toFixed(3)} without keepBest, -> ${kept.final.loss.toFixed(3)} with it`);
  assert.ok(plain.final.loss > plain.initial.loss, "the recipe hurts");
  assert.equal(kept.final.step, 0);
  assert.equal(kept.final.loss, kept.initial.loss);
  // The weights given back are the starting ones, bit for bit.
  const names = kept.trainable;
  const before = floatValues(base.model, names);
  const after = floatValues(kept.model, names);
  for (const name of names) assert.deepEqual(after.get(name), before.get(name), name);
});
