import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import os from "node:os";
import { parquetWriteBuffer } from "hyparquet-writer";
import {
  CorpusError,
  WIKITEXT2_PARQUET,
  WIKITEXT2_RAW_SHA256,
  bundledCorpus,
  bundledSplitOf,
  defaultCacheDir,
  resolveCorpus,
  rowsToRaw,
  sha256Hex,
  wikitext2FromHub,
  wikitext2Folder,
} from "../src/data/index.ts";
import { WIKITEXT_RAW, skipWithoutShared } from "./helpers/shared-data.ts";
import { startFakeHub } from "./helpers/fake-hub.ts";

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-corpus-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("the bundled corpus splits Moby-Dick by chapter, deterministically and without overlap", () => {
  const a = bundledCorpus();
  const b = bundledCorpus();
  const sizes = a.splits.map((s) => a.split(s).length);
  for (const s of a.splits) assert.equal(a.sha256(s), b.sha256(s));
  assert.equal(a.sha256("test"), sha256Hex(a.split("test")));
  const total = sizes.reduce((x, y) => x + y, 0);
  assert.ok(total > 1_100_000, `the whole book is there (${total} characters)`);
  assert.ok(sizes[0] / total > 0.7 && sizes[1] / total > 0.05 && sizes[2] / total > 0.05, `split sizes ${sizes.join("/")}`);
  assert.match(a.split("test"), /^CHAPTER 10\. A Bosom Friend\./);
  assert.match(a.split("valid"), /^CHAPTER 9\. The Sermon\./);
  assert.ok(a.split("train").includes("Call me Ishmael."));
  for (const s of a.splits) for (const o of a.splits) if (s !== o) assert.ok(!a.split(s).includes(a.split(o).slice(0, 200)));
  assert.equal(bundledSplitOf("Contents"), undefined);
  assert.equal(bundledSplitOf("Epilogue"), "train");
});

test("WikiText-2 raw from the shared folder: the test split matches the original file's sha256", { skip: skipWithoutShared(WIKITEXT_RAW) }, async () => {
  const corpus = wikitext2Folder(WIKITEXT_RAW);
  assert.deepEqual(corpus.splits, ["test"]);
  assert.equal(corpus.sha256("test"), WIKITEXT2_RAW_SHA256.test);
  assert.equal(Buffer.byteLength(corpus.split("test")), 1_290_590);
  assert.throws(() => corpus.split("train"), (e: unknown) => e instanceof CorpusError && e.message.includes(WIKITEXT_RAW) && e.message.includes("wiki.train.raw"));
  const resolved = await resolveCorpus(`${path.basename(WIKITEXT_RAW)}:test`, { configDir: path.dirname(WIKITEXT_RAW), cacheDir: "/nonexistent" });
  assert.equal(resolved.label, "wikitext-2-raw/test");
  assert.equal(resolved.corpus.sha256(resolved.split), WIKITEXT2_RAW_SHA256.test);
});

test("a wikitext-2-raw folder whose file is not the original is refused, naming the file", async (t) => {
  const dir = path.join(tmp(t), "wikitext-2-raw");
  mkdirSync(dir);
  writeFileSync(path.join(dir, "wiki.test.raw"), " = Robert Boulter = \n");
  await assert.rejects(
    async () => (await resolveCorpus(`${dir}:test`, { cacheDir: dir })).corpus.split("test"),
    (e: unknown) => e instanceof CorpusError && e.message.startsWith(path.join(dir, "wiki.test.raw")) && e.message.includes(WIKITEXT2_RAW_SHA256.test!),
  );
});

test("any folder of split files is a corpus; SHA256SUMS in it is honoured", async (t) => {
  const dir = tmp(t);
  writeFileSync(path.join(dir, "train.txt"), "some training text\n");
  writeFileSync(path.join(dir, "valid.txt"), "validation text\n");
  const resolved = await resolveCorpus(`${path.basename(dir)}:validation`, { configDir: path.dirname(dir), cacheDir: dir });
  assert.equal(resolved.split, "valid");
  assert.equal(resolved.corpus.split("valid"), "validation text\n");
  await assert.rejects(resolveCorpus(`${dir}:test`, { cacheDir: dir }), /has no test split: expected one of wiki\.test\.raw/);
  writeFileSync(path.join(dir, "SHA256SUMS"), `${"0".repeat(64)}  train.txt\n`);
  await assert.rejects(async () => (await resolveCorpus(`${dir}:train`, { cacheDir: dir })).corpus.split("train"), /train\.txt: sha256 .* is not the expected 0{64}/);
});

test("bad dataset references are errors that say what is accepted", async () => {
  await assert.rejects(resolveCorpus("imagenet/train", { cacheDir: "/x" }), /unknown dataset "imagenet"; use bundled\/<split>/);
  await assert.rejects(resolveCorpus("bundled/dev", { cacheDir: "/x" }), /unknown split "dev"/);
  assert.equal((await resolveCorpus("bundled/test", { cacheDir: "/x" })).label, "bundled/test");
});

test("the cache folder honours PRUNEBENCH_CACHE and XDG_CACHE_HOME", () => {
  assert.equal(defaultCacheDir({ PRUNEBENCH_CACHE: "/a/b" }), "/a/b");
  assert.equal(defaultCacheDir({ XDG_CACHE_HOME: "/x" }), "/x/prunebench");
  assert.match(defaultCacheDir({}), /\.cache\/prunebench$/);
});

/** Rows as Hugging Face's wikitext loader made them: one per line, whitespace-only lines as "". */
function hfRows(raw: string): string[] {
  return (raw.match(/[^\n]*\n/g) ?? []).map((line) => (line.trim() === "" ? "" : line));
}

function parquet(rows: string[]): Uint8Array {
  return new Uint8Array(parquetWriteBuffer({ columnData: [{ name: "text", data: rows, type: "STRING" }] }));
}

test("WikiText-2 from the hub's parquet files is rebuilt byte for byte, cached once, and verified", { skip: skipWithoutShared(WIKITEXT_RAW) }, async (t) => {
  const server = await startFakeHub();
  t.after(() => server.close());
  const cacheDir = tmp(t);
  const testRaw = readFileSync(path.join(WIKITEXT_RAW, "wiki.test.raw"), "utf8");
  assert.equal(rowsToRaw(hfRows(testRaw)), testRaw);
  const small = { train: " \n = Train = \n \n Some training text .\n", valid: " \n = Valid = \n \n Validation text .\n" };
  const key = (file: string) => `datasets/Salesforce/wikitext@main/${file}`;
  server.files.set(key(WIKITEXT2_PARQUET.train), parquet(hfRows(small.train)));
  server.files.set(key(WIKITEXT2_PARQUET.valid), parquet(hfRows(small.valid)));
  server.files.set(key(WIKITEXT2_PARQUET.test), parquet(hfRows(testRaw)));
  const options = { cacheDir, endpoint: server.endpoint, token: "" };
  const corpus = await wikitext2FromHub(options);
  assert.equal(corpus.sha256("test"), WIKITEXT2_RAW_SHA256.test);
  assert.equal(corpus.split("train"), small.train);
  assert.equal(corpus.split("valid"), small.valid);
  assert.ok(existsSync(path.join(cacheDir, "wikitext-2-raw", "SHA256SUMS")));
  const requests = server.requests.length;
  const again = await resolveCorpus("wikitext-2-raw/valid", options);
  assert.equal(again.corpus.split("valid"), small.valid);
  assert.equal(server.requests.length, requests, "served from the cache");
  writeFileSync(path.join(cacheDir, "wikitext-2-raw", "wiki.train.raw"), "damaged");
  assert.throws(() => wikitext2Folder(path.join(cacheDir, "wikitext-2-raw")).split("train"), /wiki\.train\.raw: sha256 .* is not the expected/);
});

test("a hub test split that does not rebuild the original file is refused", { skip: skipWithoutShared(WIKITEXT_RAW) }, async (t) => {
  const server = await startFakeHub();
  t.after(() => server.close());
  const rows = hfRows(readFileSync(path.join(WIKITEXT_RAW, "wiki.test.raw"), "utf8"));
  for (const split of ["train", "valid"] as const) server.files.set(`datasets/Salesforce/wikitext@main/${WIKITEXT2_PARQUET[split]}`, parquet([" x\n"]));
  server.files.set(`datasets/Salesforce/wikitext@main/${WIKITEXT2_PARQUET.test}`, parquet(rows.slice(1)));
  await assert.rejects(wikitext2FromHub({ cacheDir: tmp(t), endpoint: server.endpoint, token: "" }), (e: unknown) => e instanceof CorpusError && /test-00000-of-00001\.parquet: the test split rebuilt from the hub has sha256/.test(e.message));
});
