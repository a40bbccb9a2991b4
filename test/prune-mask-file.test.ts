import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Bitmask, PruneError, decodeMaskFile, encodeMaskFile, readMaskFile, writeMaskFile } from "../src/prune/index.ts";
import { rng } from "./helpers/prune-model.ts";

function randomMask(n: number, seed: number): Bitmask {
  const random = rng(seed);
  const mask = Bitmask.full(n);
  for (let i = 0; i < n; i++) if (random() < 0.5) mask.prune(i);
  return mask;
}

test("a mask file reads back bit for bit, tied copies get the transposed mask", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-mask-"));
  const file = path.join(dir, "m.mask");
  const a = randomMask(13, 1);
  const b = randomMask(3 * 5, 2);
  writeMaskFile(
    file,
    [
      { name: "a", shape: [13], mask: a },
      { name: "emb", shape: [3, 5], mask: b, copies: [{ name: "emb_t", shape: [5, 3], transposed: true }] },
    ],
    { model: "model.onnx", method: "magnitude", sparsity: 0.5, options: { scope: "matrix" } },
  );
  const bytes = readFileSync(file);
  assert.equal(bytes.subarray(0, 8).toString("latin1"), "PBMASK\n\0");
  // One bit per weight: 2 + 2 bytes of data after the header, the copy costs nothing.
  assert.equal(readMaskFile(file).header.dataBytes, 4);
  const read = readMaskFile(file);
  assert.deepEqual(read.names(), ["a", "emb", "emb_t"]);
  assert.deepEqual(read.mask("a")!.bits, a.bits);
  assert.deepEqual(read.mask("emb")!.bits, b.bits);
  const t = read.mask("emb_t")!;
  for (let r = 0; r < 3; r++) for (let c = 0; c < 5; c++) assert.equal(t.get(c * 3 + r), b.get(r * 5 + c));
  assert.equal(read.mask("missing"), undefined);
  assert.equal(read.header.method, "magnitude");
  rmSync(dir, { recursive: true, force: true });
});

test("a damaged mask file is refused with the file and the part at fault", () => {
  const good = encodeMaskFile([{ name: "a", shape: [20], mask: randomMask(20, 3) }], { model: "m", method: "random", sparsity: 0.5 });
  assert.throws(() => decodeMaskFile(good.subarray(0, good.length - 1), "f.mask"), (e: unknown) => e instanceof PruneError && /^f\.mask: data: .*truncated/.test(e.message));
  const wrongMagic = Uint8Array.from(good);
  wrongMagic[0] = 0;
  assert.throws(() => decodeMaskFile(wrongMagic, "f.mask"), /f\.mask: magic/);
  const future = Buffer.from(good);
  future.writeUInt32LE(2, 8);
  assert.throws(() => decodeMaskFile(future, "f.mask"), /version 2/);
  const flipped = Uint8Array.from(good);
  flipped[flipped.length - 1] ^= 0x01;
  assert.throws(() => decodeMaskFile(flipped, "f.mask").mask("a"), /kept bits, the header says/);
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-mask-"));
  writeFileSync(path.join(dir, "x.mask"), "not a mask");
  assert.throws(() => readMaskFile(path.join(dir, "x.mask")), /x\.mask: magic/);
  rmSync(dir, { recursive: true, force: true });
});
