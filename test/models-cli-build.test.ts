import { it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { main } from "../src/cli.ts";
import { mapModel } from "../src/models/index.ts";
import { readModel } from "../src/onnx/index.ts";

it("prunebench build writes a model and its JSON result; bad arguments exit 2", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "prunebench-cli-build-"));
  try {
    const out = path.join(dir, "bert.onnx");
    const json = path.join(dir, "build.json");
    const code = await main(["node", "prunebench", "build", "encoder", "--preset", "tiny", "--vocab", "300", "--layers", "3", "--out", out, "--json", json, "--seed", "4"]);
    assert.equal(code, 0);
    const result = JSON.parse(readFileSync(json, "utf8"));
    assert.equal(result.family, "encoder");
    assert.equal(result.sizes.layers, 3);
    assert.equal(result.sizes.vocab, 300);
    assert.equal(result.seed, 4);
    const map = mapModel(readModel(out));
    assert.equal(map.layers.encoder, 3);
    assert.equal(map.params.filter((p) => !p.buffer && !p.duplicateOf).reduce((s, p) => s + p.count, 0), result.parameters + result.headParameters);
    assert.equal(await main(["node", "prunebench", "build", "decoders", "--out", out]), 2);
    assert.equal(await main(["node", "prunebench", "build", "decoder", "--preset", "gpt3", "--out", out]), 2);
    assert.equal(await main(["node", "prunebench", "build", "decoder", "--heads", "5", "--out", out]), 2);
    assert.equal(await main(["node", "prunebench", "build", "decoder"]), 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
