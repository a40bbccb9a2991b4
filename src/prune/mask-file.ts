import { readFileSync } from "node:fs";
import { z } from "zod";
import { writeFileAtomic } from "../util/atomic.ts";
import { Bitmask } from "./bitmask.ts";
import { PruneError } from "./errors.ts";

/**
 * The mask file: which weights a pruning run zeroed, one bit per weight, so fine-tuning can
 * keep them zero. Layout (all integers little-endian):
 *
 *   bytes 0..7    magic "PBMASK\n\0"
 *   bytes 8..11   uint32 format version (1)
 *   bytes 12..15  uint32 header length H
 *   bytes 16..    H bytes of UTF-8 JSON (MaskHeader)
 *   then zero padding to a multiple of 8, where the data section starts
 *   data          each tensor's bits at its `offset` (bytes from the data start), ceil(count/8)
 *                 bytes, bit i of the tensor's row-major elements at byte i>>3, bit i&7
 *                 (least significant first); 1 = kept, 0 = pruned (torch's mask convention)
 *
 * A tied copy (a transposed LM-head copy of the embedding) has no bits of its own: its entry
 * names the tensor it copies and whether it is transposed. A 1B-parameter target set is a
 * 125 MB file.
 */
export const MASK_MAGIC = Buffer.from("PBMASK\n\0", "latin1");
export const MASK_FORMAT_VERSION = 1;

const MaskTensorSchema = z.strictObject({
  name: z.string().min(1),
  shape: z.array(z.number().int().nonnegative()),
  count: z.number().int().nonnegative(),
  /** Kept weights, a check on the bits. */
  kept: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative().optional(),
  bytes: z.number().int().nonnegative().optional(),
  copyOf: z.string().optional(),
  transposed: z.boolean().optional(),
});
export type MaskTensor = z.infer<typeof MaskTensorSchema>;

const MaskHeaderSchema = z.strictObject({
  format: z.literal("prunebench-mask"),
  version: z.literal(MASK_FORMAT_VERSION),
  /** Model the masks were computed on (for messages; masks are matched by tensor name). */
  model: z.string(),
  method: z.string(),
  options: z.record(z.string(), z.unknown()).default({}),
  sparsity: z.number().min(0).max(1),
  tensors: z.array(MaskTensorSchema),
  dataBytes: z.number().int().nonnegative(),
});
export type MaskHeader = z.infer<typeof MaskHeaderSchema>;

export interface MaskEntry {
  name: string;
  shape: number[];
  mask: Bitmask;
  /** Tied copies written with this mask. */
  copies?: { name: string; shape: number[]; transposed: boolean }[];
}

export interface MaskMeta {
  model: string;
  method: string;
  options?: Record<string, unknown>;
  sparsity: number;
}

export function encodeMaskFile(entries: readonly MaskEntry[], meta: MaskMeta): Uint8Array {
  return Buffer.concat(maskFileParts(entries, meta));
}

/**
 * The file as a list of pieces, the masks' own bits among them: a 1B-weight target set is
 * written without first gathering its 125 MB of bits into one buffer.
 */
function maskFileParts(entries: readonly MaskEntry[], meta: MaskMeta): Uint8Array[] {
  const tensors: MaskTensor[] = [];
  let offset = 0;
  for (const e of entries) {
    const kept = e.mask.kept();
    tensors.push({ name: e.name, shape: e.shape, count: e.mask.length, kept, offset, bytes: e.mask.bits.byteLength });
    offset += e.mask.bits.byteLength;
    for (const c of e.copies ?? []) tensors.push({ name: c.name, shape: c.shape, count: e.mask.length, kept, copyOf: e.name, transposed: c.transposed });
  }
  const header: MaskHeader = { format: "prunebench-mask", version: MASK_FORMAT_VERSION, ...meta, options: meta.options ?? {}, tensors, dataBytes: offset };
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const dataStart = Math.ceil((16 + json.byteLength) / 8) * 8;
  const head = Buffer.alloc(dataStart);
  MASK_MAGIC.copy(head, 0);
  head.writeUInt32LE(MASK_FORMAT_VERSION, 8);
  head.writeUInt32LE(json.byteLength, 12);
  json.copy(head, 16);
  return [head, ...entries.map((e) => e.mask.bits)];
}

export function writeMaskFile(file: string, entries: readonly MaskEntry[], meta: MaskMeta): void {
  writeFileAtomic(file, maskFileParts(entries, meta));
}

/** A mask file read back: the header and each tensor's keep-mask by name. */
export interface MaskFile {
  file: string;
  header: MaskHeader;
  names(): string[];
  /** The keep-mask of a tensor (a copy's is derived from the tensor it copies), or undefined. */
  mask(name: string): Bitmask | undefined;
}

export function readMaskFile(file: string): MaskFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new PruneError(`${file}: cannot read mask file: ${(error as Error).message}`);
  }
  return decodeMaskFile(bytes, file);
}

export function decodeMaskFile(bytes: Uint8Array, file: string): MaskFile {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (where: string, message: string): never => {
    throw new PruneError(`${file}: ${where}: ${message}`);
  };
  if (buf.byteLength < 16 || !buf.subarray(0, 8).equals(MASK_MAGIC)) fail("magic", "not a prunebench mask file");
  const version = buf.readUInt32LE(8);
  if (version !== MASK_FORMAT_VERSION) fail("version", `format version ${version}; this prunebench reads version ${MASK_FORMAT_VERSION}`);
  const headerLength = buf.readUInt32LE(12);
  if (16 + headerLength > buf.byteLength) fail("header", `length ${headerLength} runs past the end of the file (truncated?)`);
  let raw: unknown;
  try {
    raw = JSON.parse(buf.subarray(16, 16 + headerLength).toString("utf8"));
  } catch (error) {
    fail("header", `not valid JSON: ${(error as Error).message}`);
  }
  const parsed = MaskHeaderSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(`header.${issue.path.join(".")}`, issue.message);
  }
  const header = parsed.data!;
  const dataStart = Math.ceil((16 + headerLength) / 8) * 8;
  if (dataStart + header.dataBytes !== buf.byteLength) {
    fail("data", `${buf.byteLength - dataStart} bytes of mask data, the header says ${header.dataBytes} (truncated?)`);
  }
  const byName = new Map<string, MaskTensor>();
  for (const [i, t] of header.tensors.entries()) {
    const where = `header.tensors.${i} (${JSON.stringify(t.name)})`;
    if (byName.has(t.name)) fail(where, "listed twice");
    if (t.shape.reduce((a, b) => a * b, 1) !== t.count) fail(where, `count ${t.count} does not match shape [${t.shape.join(", ")}]`);
    if (t.copyOf === undefined) {
      if (t.offset === undefined || t.bytes !== Math.ceil(t.count / 8) || t.offset + t.bytes > header.dataBytes) {
        fail(where, `offset/bytes do not describe ${t.count} bits inside the data section`);
      }
    }
    byName.set(t.name, t);
  }
  const cache = new Map<string, Bitmask>();
  const own = (t: MaskTensor): Bitmask => {
    const start = dataStart + t.offset!;
    const mask = new Bitmask(t.count, new Uint8Array(buf.buffer, buf.byteOffset + start, t.bytes!));
    if (mask.kept() !== t.kept) fail(`tensor ${JSON.stringify(t.name)}`, `holds ${mask.kept()} kept bits, the header says ${t.kept} (corrupt?)`);
    return mask;
  };
  const mask = (name: string): Bitmask | undefined => {
    const t = byName.get(name);
    if (!t) return undefined;
    const cached = cache.get(name);
    if (cached) return cached;
    let result: Bitmask;
    if (t.copyOf === undefined) {
      result = own(t);
    } else {
      const source = byName.get(t.copyOf);
      if (!source || source.copyOf !== undefined) return fail(`tensor ${JSON.stringify(name)}`, `copies ${JSON.stringify(t.copyOf)}, which has no bits of its own`);
      const base = mask(t.copyOf)!;
      result = t.transposed ? base.transposed(source.shape[0], source.shape[1]) : base;
    }
    cache.set(name, result);
    return result;
  };
  return { file, header, names: () => header.tensors.map((t) => t.name), mask };
}
