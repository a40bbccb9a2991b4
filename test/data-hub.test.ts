import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import os from "node:os";
import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema, OperatorSetIdProtoSchema, TensorProtoSchema } from "onnx-buf";
import { DataType, ModelProtoSchema, addNode, graphOf, readFloat32, readModel, valueInfoFor, writeModel } from "../src/onnx/index.ts";
import { HubError, hubCachePath, hubDownload, hubModel, hubUrl } from "../src/data/index.ts";
import { GATED_TOKEN, startFakeHub, type FakeHub } from "./helpers/fake-hub.ts";

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-hub-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function hub(t: { after: (fn: () => Promise<void>) => void }): Promise<FakeHub> {
  const server = await startFakeHub();
  t.after(() => server.close());
  return server;
}

/** A small model with one 4 KiB external weight, as exporters write larger ones. */
function publishModel(server: FakeHub, repo: string, dir: string): Float32Array {
  const values = Float32Array.from({ length: 1024 }, (_, i) => Math.cos(i));
  const graph = create(GraphProtoSchema, {
    name: "g",
    initializer: [create(TensorProtoSchema, { name: "w", dataType: DataType.FLOAT, dims: [1024n], rawData: new Uint8Array(values.buffer) })],
  });
  addNode(graph, { opType: "Identity", inputs: ["w"], outputs: ["out"] });
  graph.output.push(valueInfoFor("out", { dtype: DataType.FLOAT, shape: [1024] }));
  const proto = create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { version: 17n })], graph });
  const file = path.join(dir, "publish", "model.onnx");
  writeModel({ file, dir: path.dirname(file), proto }, file, { externalData: "always" });
  server.files.set(`${repo}@main/onnx/model.onnx`, readFileSync(file));
  server.files.set(`${repo}@main/onnx/model.onnx.data`, readFileSync(`${file}.data`));
  server.files.set(`${repo}@main/tokenizer.json`, Buffer.from(JSON.stringify({ version: "1.0", model: { type: "BPE" } })));
  server.files.set(`${repo}@main/tokenizer_config.json`, Buffer.from("{}"));
  return values;
}

test("hub URLs and cache paths follow the hub's layout", () => {
  assert.equal(hubUrl({ repo: "onnx-community/gpt2", file: "onnx/model.onnx", revision: "abc" }), "https://huggingface.co/onnx-community/gpt2/resolve/abc/onnx/model.onnx");
  assert.equal(hubUrl({ repo: "Salesforce/wikitext", file: "a b.parquet", kind: "dataset" }, "http://x/"), "http://x/datasets/Salesforce/wikitext/resolve/main/a%20b.parquet");
  assert.equal(hubCachePath({ repo: "o/n", file: "onnx/m.onnx", revision: "refs/pr/1" }, "/c"), "/c/hub/models/o/n/refs%2Fpr%2F1/onnx/m.onnx");
  assert.throws(() => hubCachePath({ repo: "o/n", file: "../../etc/passwd" }, "/c"), /o\/n, file "..\/..\/etc\/passwd" at main: the file must be a relative path/);
  assert.throws(() => hubCachePath({ repo: "not-a-repo", file: "x" }, "/c"), /owner\/name/);
});

test("a hub model is downloaded once with its external data and tokenizer files, and loads", async (t) => {
  const server = await hub(t);
  const dir = tmp(t);
  const values = publishModel(server, "acme/tiny", dir);
  const cacheDir = path.join(dir, "cache");
  const got = await hubModel({ repo: "acme/tiny", file: "onnx/model.onnx" }, { cacheDir, endpoint: server.endpoint, token: "" });
  assert.equal(got.model, path.join(cacheDir, "hub/models/acme/tiny/main/onnx/model.onnx"));
  assert.ok(got.files.some((f) => f.endsWith("onnx/model.onnx.data")));
  assert.ok(got.tokenizer?.endsWith("tokenizer.json"));
  assert.ok(got.files.some((f) => f.endsWith("tokenizer_config.json")));
  const model = readModel(got.model);
  assert.deepEqual(Array.from(readFloat32(model, graphOf(model).initializer[0]).data), Array.from(values));
  assert.ok(server.requests.some((r) => r.origin === "cdn"), "the 4 KiB data file came through the LFS redirect");
  const before = server.requests.length;
  await hubModel({ repo: "acme/tiny", file: "onnx/model.onnx" }, { cacheDir, endpoint: server.endpoint });
  assert.equal(server.requests.length, before, "the second call is served from the cache");
});

test("HF_TOKEN opens gated repositories and is not sent to the CDN; without it the error names repo, file and status", async (t) => {
  const server = await hub(t);
  const dir = tmp(t);
  publishModel(server, "gated/tiny", dir);
  const cacheDir = path.join(dir, "cache");
  const saved = process.env.HF_TOKEN;
  t.after(() => (saved === undefined ? delete process.env.HF_TOKEN : (process.env.HF_TOKEN = saved)));
  delete process.env.HF_TOKEN;
  await assert.rejects(
    hubDownload({ repo: "gated/tiny", file: "onnx/model.onnx" }, { cacheDir, endpoint: server.endpoint }),
    (e: unknown) => e instanceof HubError && e.status === 401 && /gated\/tiny, file "onnx\/model.onnx" at main: HTTP 401: .*HF_TOKEN/.test(e.message),
  );
  process.env.HF_TOKEN = GATED_TOKEN;
  await hubModel({ repo: "gated/tiny", file: "onnx/model.onnx" }, { cacheDir, endpoint: server.endpoint });
  assert.ok(server.requests.filter((r) => r.origin === "hub").some((r) => r.authorization === `Bearer ${GATED_TOKEN}`));
  assert.ok(server.requests.filter((r) => r.origin === "cdn").every((r) => r.authorization === undefined));
});

test("a missing file is a 404 HubError; a corrupt or cut-off download leaves nothing in the cache", async (t) => {
  const server = await hub(t);
  const dir = tmp(t);
  publishModel(server, "acme/tiny", dir);
  const options = { cacheDir: path.join(dir, "cache"), endpoint: server.endpoint, token: "" };
  await assert.rejects(hubDownload({ repo: "acme/tiny", file: "nope.onnx" }, options), (e: unknown) => e instanceof HubError && e.status === 404 && /acme\/tiny, file "nope.onnx".*404/.test(e.message));
  server.corrupt.add("acme/tiny@main/onnx/model.onnx.data");
  await assert.rejects(hubDownload({ repo: "acme/tiny", file: "onnx/model.onnx.data" }, options), /sha256 [0-9a-f]{64} does not match the hub's/);
  server.corrupt.clear();
  server.corrupt.add("acme/tiny@main/tokenizer.json");
  await assert.rejects(hubDownload({ repo: "acme/tiny", file: "tokenizer.json" }, options), /git blob sha1 .* does not match/);
  server.corrupt.clear();
  server.truncate.add("acme/tiny@main/onnx/model.onnx.data");
  await assert.rejects(hubDownload({ repo: "acme/tiny", file: "onnx/model.onnx.data" }, options), /acme\/tiny, file "onnx\/model.onnx.data".*(failed|ended after)/);
  const folder = path.join(options.cacheDir, "hub/models/acme/tiny/main/onnx");
  assert.deepEqual(existsSync(folder) ? readdirSync(folder) : [], [], "no partial or temporary file is left");
  server.truncate.clear();
  assert.ok(existsSync(await hubDownload({ repo: "acme/tiny", file: "onnx/model.onnx.data" }, options)));
});

test("a hub model whose external data points outside its folder is refused before fetching it", async (t) => {
  const server = await hub(t);
  const dir = tmp(t);
  publishModel(server, "acme/evil", dir);
  const model = readModel(path.join(dir, "publish", "model.onnx"));
  graphOf(model).initializer[0].externalData.find((e) => e.key === "location")!.value = "../../secret";
  const bytes = Buffer.from((await import("@bufbuild/protobuf")).toBinary(ModelProtoSchema, model.proto));
  server.files.set("acme/evil@main/onnx/model.onnx", bytes);
  await assert.rejects(hubModel({ repo: "acme/evil", file: "onnx/model.onnx" }, { cacheDir: path.join(dir, "cache"), endpoint: server.endpoint, token: "" }), /outside the model's folder/);
  assert.ok(!server.requests.some((r) => r.path.includes("secret")));
});
