import { closeSync, openSync, readSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import type { TensorProto } from "onnx-buf";
import { elementBytes } from "./dtype.ts";
import { OnnxFormatError } from "./errors.ts";
import type { OnnxModel } from "./model.ts";
import { elementCount, externalDataRef, isExternal, tensorBytes, tensorShape } from "./tensor.ts";

/**
 * Streaming over tensor bytes in fixed buffers: a pass over a 2 GB model touches only its
 * chunk buffers, never holds a tensor, and pays no page faults for fresh memory (on VMs
 * those cost more than reading the page cache). Reads run ahead in libuv's thread pool while
 * the caller works on the previous chunk on the main thread.
 */
export type ByteSource =
  | { name: string; file: string; offset: number; length: number }
  | { name: string; bytes: Uint8Array };

/** Where a tensor's bytes are: a checked range of its data file, or its inline bytes. */
export function tensorSource(model: OnnxModel, tensor: TensorProto): ByteSource {
  if (!isExternal(tensor)) return { name: tensor.name, bytes: tensorBytes(model, tensor) };
  const expected = elementCount(tensorShape(model, tensor)) * (elementBytes(tensor.dataType) ?? 0);
  const ref = externalDataRef(model, tensor, expected);
  return { name: tensor.name, file: ref.file, offset: ref.offset, length: ref.length };
}

export function sourceLength(source: ByteSource): number {
  return "bytes" in source ? source.bytes.byteLength : source.length;
}

export interface Chunk {
  /** Index of the source in the list given to forEachChunk. */
  source: number;
  /** Byte offset of the chunk within its source. */
  offset: number;
  /** The chunk's bytes, in one of the caller's buffers; the visitor may change them. */
  bytes: Uint8Array;
}

/**
 * Calls `visit` on every chunk of every source, in order; each chunk is at most one buffer
 * long. A promise returned by `visit` (a write of the chunk, say) keeps its buffer busy until
 * it settles, without holding up the next visit. The first error stops the stream and is
 * rethrown once everything in flight has settled, as is the reason of an abort of `signal`.
 * `label` names the model in errors.
 */
export async function forEachChunk(
  label: string,
  sources: readonly ByteSource[],
  buffers: readonly Uint8Array[],
  visit: (chunk: Chunk) => void | Promise<unknown>,
  signal?: AbortSignal,
): Promise<void> {
  if (buffers.length === 0) throw new Error("forEachChunk needs at least one buffer");
  const size = Math.min(...buffers.map((b) => b.byteLength));
  const free = [...buffers];
  const waiting: ((buffer: Uint8Array) => void)[] = [];
  const acquire = (): Promise<Uint8Array> => (free.length ? Promise.resolve(free.pop()!) : new Promise((resolve) => waiting.push(resolve)));
  const release = (buffer: Uint8Array) => {
    const next = waiting.shift();
    if (next) next(buffer);
    else free.push(buffer);
  };
  const files = new Map<string, Promise<FileHandle>>();
  const handle = (file: string) => {
    let h = files.get(file);
    if (!h) files.set(file, (h = open(file, "r")));
    return h;
  };
  let failure: { error: unknown } | undefined;
  const inFlight = new Set<Promise<void>>();
  let ordered: Promise<void> = Promise.resolve();
  try {
    for (let s = 0; s < sources.length && !failure; s++) {
      const source = sources[s];
      const length = sourceLength(source);
      for (let offset = 0; offset < length && !failure; offset += size) {
        const buffer = await acquire();
        if (signal?.aborted) {
          release(buffer);
          failure ??= { error: signal.reason };
          break;
        }
        const bytes = buffer.subarray(0, Math.min(size, length - offset));
        const filled = fill(label, source, offset, bytes, handle);
        // Marked handled now: a failed read is reported through the ordered chain below.
        filled.catch(() => {});
        const chunk: Chunk = { source: s, offset, bytes };
        // Visits run one after another in source order; what they return runs alongside.
        const visited = ordered.then(() => filled).then(() => ({ held: failure ? undefined : visit(chunk) }));
        ordered = visited.then(() => undefined);
        ordered.catch(() => {});
        const done = visited
          .then(({ held }) => held)
          .then(
            () => release(buffer),
            (error: unknown) => {
              failure ??= { error };
              release(buffer);
            },
          );
        inFlight.add(done);
        void done.finally(() => inFlight.delete(done));
      }
    }
    await Promise.all(inFlight);
  } finally {
    await Promise.allSettled(inFlight);
    for (const h of files.values()) await h.then((fh) => fh.close()).catch(() => {});
  }
  if (failure) throw failure.error;
}

async function fill(label: string, source: ByteSource, offset: number, into: Uint8Array, handle: (file: string) => Promise<FileHandle>): Promise<void> {
  if ("bytes" in source) {
    into.set(source.bytes.subarray(offset, offset + into.byteLength));
    return;
  }
  const fh = await handle(source.file);
  for (let done = 0; done < into.byteLength; ) {
    const { bytesRead } = await fh.read(into, done, into.byteLength - done, source.offset + offset + done);
    if (bytesRead === 0) throw new OnnxFormatError(label, `initializer ${JSON.stringify(source.name)}`, "external data ends early");
    done += bytesRead;
  }
}

/** Reads byte ranges of a source, from its data file or its inline bytes, into one reused buffer. */
export class ByteRangeReader {
  private fd: number | undefined;
  private buffer = new Uint8Array(0);

  constructor(private readonly source: ByteSource) {}

  /** The bytes [at, at+length); a view valid until the next read. */
  read(at: number, length: number): Uint8Array {
    const source = this.source;
    if ("bytes" in source) return source.bytes.subarray(at, at + length);
    if (this.buffer.byteLength < length) this.buffer = new Uint8Array(Math.max(length, 4096));
    const into = this.buffer.subarray(0, length);
    this.fd ??= openSync(source.file, "r");
    for (let done = 0; done < length; ) {
      const got = readSync(this.fd, into, done, length - done, source.offset + at + done);
      if (got === 0) throw new Error(`${source.file}: ends before byte ${source.offset + at + length} (${source.name})`);
      done += got;
    }
    return into;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
  }
}
