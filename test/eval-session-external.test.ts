/**
 * Sessions for models with external data: onnxruntime reads the data where it lies, and
 * nothing is written into the model's folder (a kill -9 there used to leave a graph copy).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema, OperatorSetIdProtoSchema, TensorProtoSchema } from "onnx-buf";
import { DataType, ModelProtoSchema, addNode, readModel, valueInfoFor, writeModel } from "../src/onnx/index.ts";
import { createSession, removeStaleSessionFiles } from "../src/eval/session.ts";

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pb-session-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** output = Cast(w) with w's 300 values in model.onnx.data, so a run reads the data file. */
function externalCastModel(dir: string): { file: string; values: Float32Array } {
  const values = Float32Array.from({ length: 300 }, (_, i) => i / 7);
  const weight = create(TensorProtoSchema, { name: "w", dataType: DataType.FLOAT, dims: [300n], rawData: new Uint8Array(values.buffer) });
  const graph = create(GraphProtoSchema, { name: "cast", initializer: [weight] });
  addNode(graph, { opType: "Cast", inputs: ["w"], outputs: ["out"], attributes: { to: DataType.FLOAT } });
  graph.output.push(valueInfoFor("out", { dtype: DataType.FLOAT, shape: [300] }));
  const proto = create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: 17n })], graph });
  const file = path.join(dir, "model.onnx");
  writeModel({ file, dir, proto }, file, { externalData: "always" });
  return { file, values };
}

async function runOut(file: string): Promise<Float32Array> {
  const { session } = await createSession(readModel(file));
  try {
    return (await session.run({})).out.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** A process id that was alive a moment ago and is not any more. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(child.stdout);
}

test("a session on an external-data model reads the data in place and writes nothing in the model's folder", async (t) => {
  const dir = tmp(t);
  const { file, values } = externalCastModel(dir);
  const before = { names: readdirSync(dir).sort(), mtime: statSync(dir).mtimeMs };
  assert.deepEqual(await runOut(file), values);
  // A file created and removed again changes the folder's mtime, so this sees even a brief copy.
  assert.deepEqual({ names: readdirSync(dir).sort(), mtime: statSync(dir).mtimeMs }, before);
});

test("a model whose folder is a symbolic link, or read-only, still runs with its external data", async (t) => {
  const dir = tmp(t);
  const real = path.join(dir, "real");
  mkdirSync(real);
  const { values } = externalCastModel(real);
  symlinkSync(real, path.join(dir, "link"));
  assert.deepEqual(await runOut(path.join(dir, "link", "model.onnx")), values);
  if (process.getuid?.() === 0) return; // root writes anywhere: a read-only folder proves nothing
  const { chmodSync } = await import("node:fs");
  chmodSync(real, 0o555);
  t.after(() => chmodSync(real, 0o755));
  assert.deepEqual(await runOut(path.join(real, "model.onnx")), values);
});

test("graph copies left by a killed process beside a model are removed when their pid is dead; a live one's stay", async (t) => {
  const dir = tmp(t);
  const { file, values } = externalCastModel(dir);
  const dead = path.join(dir, `.prunebench-${deadPid()}-0a1b2c3d.onnx`);
  const live = path.join(dir, `.prunebench-${process.ppid}-4e5f6a7b.onnx`);
  const mine = path.join(dir, `.prunebench-${process.pid}-8c9d0e1f.onnx`);
  const unrelated = path.join(dir, ".prunebench-notes.onnx");
  for (const f of [dead, live, mine, unrelated]) writeFileSync(f, "leftover");
  assert.deepEqual(await runOut(file), values);
  assert.equal(existsSync(dead), false, "a dead process's copy is removed");
  for (const f of [live, mine, unrelated]) assert.equal(existsSync(f), true, `${path.basename(f)} is left`);
  assert.deepEqual(removeStaleSessionFiles(dir, () => false).map((f) => path.basename(f)).sort(), [path.basename(live), path.basename(mine)].sort());
});
