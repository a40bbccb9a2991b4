/** Calibration or fine-tuning text that is also evaluation text is found before work starts and flagged. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../src/config/load.ts";
import { planRuns } from "../src/pipeline/plan.ts";
import { overlapWarning, textOverlaps } from "../src/pipeline/overlap.ts";
import type { RunContext } from "../src/pipeline/context.ts";
import { renderReport, readResultFile } from "../src/report/index.ts";

const root = path.resolve(import.meta.dirname, "..");

async function overlapsOf(yaml: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-overlap-"));
  try {
    const file = path.join(dir, "c.yml");
    writeFileSync(file, yaml.replaceAll("DEMO", path.join(root, "demo")));
    const loaded = loadConfig(file);
    const ctx = { loaded, tokenizerFile: path.join(root, "demo/tokenizer.json"), cacheDir: path.join(dir, "cache"), dataDir: path.join(dir, "data") } as unknown as RunContext;
    const overlaps = await textOverlaps(ctx, planRuns(loaded.config));
    return { overlaps, warnings: overlaps.map((o) => overlapWarning(o, "c.yml")) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const head = `name: t
model: { path: DEMO/models/decoder.onnx, tokenizer: DEMO/tokenizer.json, family: decoder }
`;

test("calibrating and fine-tuning on the evaluated split is flagged with the field and the byte range; other splits are not", async () => {
  const same = await overlapsOf(
    head +
      `prune: { methods: [magnitude, wanda], sparsity: [0.5], calibration: { dataset: bundled/test, samples: 4, seq_len: 32 } }
finetune: { steps: 2, dataset: bundled/test }
eval: { perplexity: { dataset: bundled/test, seq_len: 64, max_tokens: 2000 }, latency: false }
`,
  );
  assert.deepEqual(same.overlaps.map((o) => [o.use, o.field, o.methods.join()]), [
    ["calibration", "prune.calibration.dataset", "wanda"],
    ["fine-tuning", "finetune.dataset", "*"],
  ]);
  const calib = same.overlaps[0];
  assert.equal(calib.bytes[0], 0);
  assert.ok(calib.bytes[1] > 1000 && calib.bytes[1] < 10_000, `the evaluated prefix: ${calib.bytes}`);
  assert.match(same.warnings[0], /^c\.yml: prune\.calibration\.dataset \(bundled\/test\) overlaps the evaluation text bundled\/test \(first ~2000 tokens\) \(bytes 0-\d+\)/);

  const apart = await overlapsOf(
    head +
      `prune: { methods: [wanda], sparsity: [0.5], calibration: { dataset: bundled/train, samples: 4, seq_len: 32 } }
finetune: { steps: 2, dataset: bundled/train }
eval: { perplexity: { dataset: bundled/test, seq_len: 64, max_tokens: 2000 }, latency: false }
`,
  );
  assert.deepEqual(apart.overlaps, []);
  // Magnitude does not calibrate: the calibration text does not matter to it.
  const magnitudeOnly = await overlapsOf(
    head + `prune: { methods: [magnitude], sparsity: [0.5], calibration: { dataset: bundled/test } }\neval: { perplexity: { dataset: bundled/test, seq_len: 64, max_tokens: 2000 }, latency: false }\n`,
  );
  assert.deepEqual(magnitudeOnly.overlaps, []);
});

test("the report marks the affected rows and says why next to the table", () => {
  const result = readResultFile(path.join(root, "test/fixtures/results/gpt2.json"));
  result.overlaps = [{ use: "calibration", field: "prune.calibration.dataset", dataset: "wikitext-2-raw/test", evaluation: "wikitext-2-raw/test", bytes: [0, 1000], methods: ["wanda"] }];
  const { markdown } = renderReport({ results: [result], options: { charts: "none" } });
  const rows = markdown.split("\n").filter((l) => /^\| (wanda|magnitude) \| \d+% \| [\d.]+% \|/.test(l) && !l.includes("MiB"));
  assert.ok(rows.length >= 4);
  for (const row of rows) assert.equal(row.includes("⚠"), row.startsWith("| wanda"), row);
  assert.match(markdown, /> \[!WARNING\]\n> Not a fair comparison: the calibration text \(prune\.calibration\.dataset: wikitext-2-raw\/test\) is also evaluated/);
});

test("the example config calibrates on other text than it evaluates", async () => {
  const loaded = loadConfig(path.join(root, "examples/wikitext-gpt2.yml"));
  assert.notEqual(loaded.config.prune.calibration.dataset, loaded.config.eval.perplexity && loaded.config.eval.perplexity.dataset);
});
