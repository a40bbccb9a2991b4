/**
 * Training checkpoints: one file, written atomically, holding step, RNG state, history and, per
 * trained tensor, its values and both Adam moments. Layout: "PBTRAIN1", u32 header length,
 * JSON header (padded to 4 bytes), then value/m/v of each tensor as little-endian fp32.
 */
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "../util/atomic.ts";
import type { ParamState } from "./optimizer.ts";

const MAGIC = "PBTRAIN1";

export interface CheckpointHeader {
  version: 1;
  step: number;
  rng: number;
  tensors: { name: string; length: number }[];
  /** Free-form loop state (history, best validation, ...). */
  state: Record<string, unknown>;
}

export function saveCheckpoint(file: string, header: Omit<CheckpointHeader, "version" | "tensors">, params: ParamState[]): void {
  const full: CheckpointHeader = { version: 1, ...header, tensors: params.map((p) => ({ name: p.name, length: p.value.length })) };
  let json = Buffer.from(JSON.stringify(full));
  const pad = (4 - ((MAGIC.length + 4 + json.length) % 4)) % 4;
  json = Buffer.concat([json, Buffer.from(" ".repeat(pad))]);
  const total = MAGIC.length + 4 + json.length + params.reduce((s, p) => s + 12 * p.value.length, 0);
  const out = Buffer.alloc(total);
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(json.length, MAGIC.length);
  json.copy(out, MAGIC.length + 4);
  let at = MAGIC.length + 4 + json.length;
  for (const p of params) {
    for (const a of [p.value, p.m, p.v]) {
      out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
      at += a.byteLength;
    }
  }
  writeFileAtomic(file, out);
}

/** Loads a checkpoint into `params` (checked by name and size); returns its header. */
export function loadCheckpoint(file: string, params: ParamState[]): CheckpointHeader {
  const bytes = readFileSync(file);
  if (bytes.subarray(0, MAGIC.length).toString("latin1") !== MAGIC) throw new Error(`${file}: not a prunebench training checkpoint`);
  const len = bytes.readUInt32LE(MAGIC.length);
  const header = JSON.parse(bytes.subarray(MAGIC.length + 4, MAGIC.length + 4 + len).toString()) as CheckpointHeader;
  const names = params.map((p) => `${p.name}:${p.value.length}`).join(",");
  const saved = header.tensors.map((t) => `${t.name}:${t.length}`).join(",");
  if (names !== saved) throw new Error(`${file}: checkpoint tensors do not match this model and trainable set; delete it or train from scratch`);
  let at = MAGIC.length + 4 + len;
  for (const p of params) {
    for (const a of [p.value, p.m, p.v]) {
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(bytes.subarray(at, at + a.byteLength));
      at += a.byteLength;
    }
  }
  return header;
}
