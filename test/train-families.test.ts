/** Masked-LM and seq2seq losses fall; runs repeat exactly from a seed; a resumed run equals an uninterrupted one. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildModel } from "../src/models/index.ts";
import { bundledCorpus } from "../src/data/index.ts";
import { finetune, floatValues } from "../src/train/train.ts";
import type { Family } from "../src/models/types.ts";

const corpus = bundledCorpus();
const bytes = (s: string) => Uint8Array.from(Buffer.from(s, "utf8"));
const tokens = bytes(corpus.split("train").slice(0, 60_000));
const valid = bytes(corpus.split("valid").slice(0, 10_000));
const sizes = { vocab: 256, layers: 1, dModel: 32, heads: 2, dFF: 64, positions: 64 };
const tiny = (family: Family, seed = 1) => buildModel({ family, preset: "tiny", sizes, seed });

for (const family of ["encoder", "encoder-decoder"] as const) {
  test(`${family === "encoder" ? "masked-LM" : "seq2seq"} loss falls on a tiny built ${family}`, async (t) => {
    const r = await finetune({ model: tiny(family), family, tokens, validTokens: valid, steps: 40, lr: 1e-2, batch: 8, seqLen: 24, evalEvery: 20, seed: 0, maskToken: 0 });
    t.diagnostic(`${family}: validation loss ${r.initial.loss.toFixed(3)} -> ${r.final.loss.toFixed(3)} (perplexity ${r.initial.perplexity.toFixed(1)} -> ${r.final.perplexity.toFixed(1)})`);
    assert.ok(r.final.loss < r.initial.loss - 1, `${r.initial.loss} -> ${r.final.loss}`);
    assert.ok(r.history[r.history.length - 1].loss < r.history[0].loss);
  });
}

test("training is deterministic on CPU for a seed, and a resumed run equals an uninterrupted one", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-train-"));
  try {
    const base = { family: "decoder" as const, tokens, validTokens: valid, steps: 6, lr: 5e-3, batch: 4, seqLen: 16, evalEvery: 3, evalBatches: 1, seed: 7, schedule: "cosine" as const, warmup: 2, accumulate: 2 };
    const names = (m: ReturnType<typeof tiny>) => m.proto.graph!.initializer.filter((x) => x.dataType === 1).map((x) => x.name);
    const a = await finetune({ ...base, model: tiny("decoder") });
    const b = await finetune({ ...base, model: tiny("decoder") });
    const file = path.join(dir, "ckpt.bin");
    const first = await finetune({ ...base, model: tiny("decoder"), checkpoint: { file, every: 3 }, stopAt: 3 });
    assert.equal(first.steps, 3);
    assert.ok(existsSync(file));
    const resumed = await finetune({ ...base, model: tiny("decoder"), checkpoint: { file, every: 3 }, resume: true });
    assert.equal(resumed.steps, 6);
    const va = floatValues(a.model, names(a.model));
    const vb = floatValues(b.model, names(b.model));
    const vr = floatValues(resumed.model, names(resumed.model));
    for (const [name, v] of va) {
      assert.deepEqual(vb.get(name), v, `${name}: same seed, same weights`);
      assert.deepEqual(vr.get(name), v, `${name}: resumed run equals the uninterrupted one`);
    }
    assert.deepEqual(resumed.history.map((h) => h.loss), a.history.map((h) => h.loss));
    assert.notDeepEqual(floatValues(tiny("decoder"), names(a.model)).get("transformer.h.0.mlp.c_fc.weight"), va.get("transformer.h.0.mlp.c_fc.weight"), "weights moved");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("early stop keeps the best weights", async () => {
  // A learning rate far too high: validation gets worse, patience 1 stops at the second validation.
  const r = await finetune({ model: tiny("decoder"), family: "decoder", tokens, validTokens: valid, steps: 30, lr: 5, clipNorm: 0, batch: 4, seqLen: 16, evalEvery: 3, evalBatches: 1, patience: 1, warmup: 0, schedule: "constant" });
  assert.ok(r.stoppedEarly);
  assert.ok(r.steps < 30);
  const best = Math.min(...r.validation.map((v) => v.loss));
  assert.equal(r.final.loss, best);
});

test("without validation tokens the last 10% of the stream is held out", async () => {
  const r = await finetune({ model: tiny("decoder"), family: "decoder", tokens: tokens.subarray(0, 4000), steps: 1, lr: 1e-3, batch: 2, seqLen: 16, evalBatches: 2 });
  assert.equal(r.initial.tokens, 2 * 2 * 16);
  assert.equal(r.steps, 1);
});
