/**
 * src/config: a model config as load.ts reads it and schema.ts checks it. Defaults are applied
 * once, here; a misspelt key is refused by its own path; method names and options go through
 * the pruning registry; every error names the file and the field.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError, configJsonSchema, loadConfig, parseConfig } from "../src/config/load.ts";
import { relative } from "../src/config/schema.ts";
import { EXIT, describeError } from "../src/errors.ts";
import { planRuns } from "../src/pipeline/plan.ts";
import { getMethod, listMethods } from "../src/prune/registry.ts";
import { parseMethodSpec } from "../src/prune/spec.ts";

const MINIMAL = "name: tiny\nmodel: { path: model.onnx }\n";

/** The ConfigError a config text raises (fails the test if it parses). */
function refusal(text: string, file = "models/tiny.yml"): ConfigError {
  try {
    parseConfig(text, file);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${String(error)}`);
    return error;
  }
  assert.fail(`parsed:\n${text}`);
}

/** The message `fn` throws ("" when it does not). */
function getMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  return "";
}

test("defaults are applied where a config leaves sections out", () => {
  const { config } = parseConfig(MINIMAL, "tiny.yml");
  assert.deepEqual(config.analyze, { cutoffs: [0.1, 0.01, 0.001] });
  assert.deepEqual(config.prune, { methods: ["magnitude"], sparsity: [0.5], calibration: { dataset: "bundled/train", samples: 128, seed: 0 }, sensitivity: false });
  assert.equal(config.finetune, undefined, "fine-tuning only when asked for");
  assert.deepEqual(config.eval, {
    perplexity: { dataset: "bundled/test", seed: 0 },
    latency: { batch: [1], seq_len: [128], providers: ["cpu"], threads: 0, budget_ms: 2000, warmup: 3 },
  });
  assert.deepEqual(config.regression, {
    perplexity: { max_increase: "1%", abs_tolerance: 1e-3 },
    latency: { max_increase: "5%", confidence: 0.99 },
    reach: { max_decrease: 0.02 },
  });
  // A section given empty gets its own defaults; a value given is kept.
  const full = parseConfig(`${MINIMAL}finetune: {}\nprune: { budget: {}, sensitivity: {}, calibration: { samples: 16 } }\neval: { latency: false }\n`, "tiny.yml").config;
  assert.deepEqual(full.finetune, { steps: 100, lr: 5e-5, batch: 8, dataset: "bundled/train", warmup: "5%", weight_decay: 0.01, schedule: "linear", clip: 1, accumulate: 1, eval_batches: 4, seed: 0 });
  assert.deepEqual(full.prune.budget, { max_increase: "2%", metric: "perplexity", finetune: false, tolerance: 0.01, allocation: false });
  assert.deepEqual(full.prune.sensitivity, { method: "magnitude", sparsity: 0.5 });
  assert.deepEqual(full.prune.calibration, { dataset: "bundled/train", samples: 16, seed: 0 });
  assert.equal(full.eval.latency, false);
  assert.equal(relative(full.prune.budget!.max_increase), 0.02);
});

test("the hash keys the config's content, not its spelling", () => {
  const a = parseConfig(MINIMAL, "a.yml");
  const b = parseConfig("model:\n  path: model.onnx\nname: tiny   # the same config\nprune: { sparsity: [0.5] }\n", "b.yml");
  assert.equal(a.hash, b.hash, "defaults written out or left out, key order, comments");
  assert.match(a.hash, /^[0-9a-f]{64}$/);
  assert.notEqual(parseConfig(`${MINIMAL}prune: { sparsity: [0.3] }\n`, "a.yml").hash, a.hash);
  assert.equal(a.dir, path.resolve("."), "relative paths resolve against the config's folder");
});

test("unknown keys are refused by their own field path, every one of them", () => {
  assert.equal(refusal(`${MINIMAL}prune: { sparsty: [0.5] }\n`).message, "models/tiny.yml: prune.sparsty: unknown field");
  assert.equal(refusal(`${MINIMAL}eval: { perplexity: { protocl: masked-lm } }\n`).field, "eval.perplexity.protocl");
  assert.equal(refusal(`${MINIMAL}prune: { calibration: { sample: 8 } }\n`).field, "prune.calibration.sample");
  assert.equal(refusal(`${MINIMAL}regression: { latency: { max_increse: "5%" } }\n`).field, "regression.latency.max_increse");
  assert.equal(refusal(`${MINIMAL}prnue: {}\n`).field, "prnue");
  const several = refusal(`${MINIMAL}fine_tune: {}\nprune: { method: [magnitude], sparsity: [2] }\n`);
  assert.deepEqual(several.issues.sort(), ["fine_tune: unknown field", "prune.method: unknown field", "prune.sparsity[0]: Too big: expected number to be <1"].sort());
  assert.equal(several.message.split("\n").length, 3, "one line per problem");
});

test("method names and options go through the pruning registry", () => {
  const names = listMethods().map((m) => m.name);
  assert.deepEqual(names, ["magnitude", "global", "random", "nm", "wanda", "sparsegpt", "owl", "structured"]);
  // Every registered method is a config method, by name or as a map.
  const { config } = parseConfig(`${MINIMAL}prune: { methods: [${names.join(", ")}, { nm: "2:4" }, { owl: { base: sparsegpt } }, { structured: null }] }\n`, "tiny.yml");
  assert.equal(config.prune.methods.length, names.length + 3);
  // And the editors' JSON Schema offers the same names.
  const schema = JSON.stringify(configJsonSchema());
  assert.ok(schema.includes(JSON.stringify(names)), "the JSON Schema's method enum is the registry's list");

  const unknown = refusal(`${MINIMAL}prune: { methods: [magnitude, bogus] }\n`);
  assert.equal(unknown.field, "prune.methods[1]");
  assert.match(unknown.message, /unknown pruning method "bogus"; known: magnitude, global, random, nm, wanda, sparsegpt, owl, structured$/);
  assert.equal(refusal(`${MINIMAL}prune: { methods: [{ nm: "2:4", wanda: null }] }\n`).field, "prune.methods[0]");
  assert.match(refusal(`${MINIMAL}prune: { methods: [{ nm: 5 }] }\n`).message, /prune\.methods\[0\]\.nm: a method's options are a map, a single value/);
  // The sensitivity scan prunes one layer at a time with a mask: a graph rewrite is refused.
  assert.equal(refusal(`${MINIMAL}prune: { sensitivity: { method: structured } }\n`).field, "prune.sensitivity.method");

  // Options parse with the method's own parser (the messages prunebench prune gives), a single
  // value standing for the method's optionKey.
  assert.deepEqual(parseMethodSpec({ nm: "2:4" }, "prune.methods[0]"), { method: "nm", options: { pattern: "2:4" }, parsed: { n: 2, m: 4 } });
  assert.deepEqual(parseMethodSpec({ magnitude: "global" }, "prune.methods[0]").parsed, { scope: "global" });
  assert.deepEqual(parseMethodSpec({ structured: { heads_count: 4 } }, "prune.methods[0]").parsed, { headCount: 4 });
  assert.throws(() => parseMethodSpec({ nm: "5:4" }, "prune.methods[0]"), (e: Error) => e.message === getMessage(() => getMethod("nm").parseOptions({ pattern: "5:4" })));
  assert.throws(() => parseMethodSpec({ random: { seed: 1.5 } }, "prune.methods[0]"), /random option seed: 1.5 is not an integer/);
  assert.throws(() => parseMethodSpec({ owl: "2:4" }, "prune.methods[0]"), /owl option base: "2:4" is not "wanda" or "sparsegpt"/);
  assert.throws(() => parseMethodSpec({ global: { scope: "matrix" } }, "prune.methods[0]"), /global: scope must be "global"/);

  // The sweep: implied sparsities run once, ids from the methods' own parts.
  const plan = planRuns(parseConfig(`${MINIMAL}prune: { methods: [magnitude, { nm: "2:4" }, { wanda: "2:4" }, { random: { seed: 3 } }, structured], sparsity: [0.3, 0.6] }\n`, "tiny.yml").config);
  assert.deepEqual(
    plan.map((r) => r.id),
    ["magnitude@0.3", "magnitude@0.6", "nm:2:4@0.5", "wanda:2:4@0.5", "random:seed=3@0.3", "random:seed=3@0.6", "structured@0.3", "structured@0.6"],
  );
});

test("errors name the file and the field, exit 1, and print one line each", () => {
  const error = refusal(`${MINIMAL}finetune: { steps: 0, lr: -1 }\n`, "models/gpt2.yml");
  assert.equal(error.file, "models/gpt2.yml");
  assert.equal(error.field, "finetune.steps");
  assert.equal(error.exitCode, EXIT.input);
  assert.ok(error.message.split("\n").every((line) => line.startsWith("models/gpt2.yml: finetune.")), error.message);
  const described = describeError(error);
  assert.equal(described.internal, false);
  assert.deepEqual(described.lines, ["models/gpt2.yml: finetune.steps: Too small: expected number to be >0", "models/gpt2.yml: finetune.lr: Too small: expected number to be >0"]);

  // Cross-field rules name the field that needs the other.
  assert.equal(refusal(`${MINIMAL}prune: { budget: { finetune: true } }\n`).field, "prune.budget.finetune");
  assert.equal(refusal(`${MINIMAL}prune: { budget: {} }\neval: { perplexity: false }\n`).field, "prune.budget");
  assert.equal(refusal("name: tiny\nmodel: { path: a.onnx, hf: { repo: a/b, file: m.onnx } }\n").field, "model");

  // Whole-file problems name the file and no field.
  const yaml = refusal(`${MINIMAL}name: again\n`);
  assert.equal(yaml.field, undefined);
  assert.match(yaml.message, /^models\/tiny\.yml: YAML: Map keys must be unique/);
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-config-"));
  try {
    const missing = path.join(dir, "none.yml");
    assert.throws(() => loadConfig(missing), (e: unknown) => e instanceof ConfigError && e.file === missing && e.field === undefined && e.message === `${missing}: cannot read (ENOENT)`);
    const file = path.join(dir, "gpt2.yml");
    writeFileSync(file, `${MINIMAL}prune: { sparsity: [0.2, 0.4] }\n`);
    const loaded = loadConfig(file);
    assert.equal(loaded.file, file);
    assert.equal(loaded.dir, dir);
    assert.deepEqual(loaded.config.prune.sparsity, [0.2, 0.4]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
