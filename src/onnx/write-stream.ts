import { mkdir, open, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { TensorProto } from "onnx-buf";
import { temporaryPath, writeFileAtomic } from "../util/atomic.ts";
import { forEachChunk, tensorSource } from "./chunks.ts";
import { DIRECT_IO_ALIGNMENT, canWriteDirect, openForDirectWrites, padToBlocks } from "./direct-io.ts";
import { OnnxFormatError } from "./errors.ts";
import type { OnnxModel } from "./model.ts";
import { externalLayout, usesExternalData, type WriteOptions } from "./write.ts";

export interface StreamedWriteOptions extends WriteOptions {
  /** Chunk buffers for the weights that are copied as they are. */
  buffers: readonly Uint8Array[];
  /**
   * Weights that are changed on their way out. They wait for `ready` (a selection pass that
   * decides what to change, say) while the others are already being copied, then each chunk
   * goes through `transform` before it is written: in file order, chunk after chunk, so a
   * transform may carry state across chunks and tensors. `byteOffset` is the chunk's place in
   * the tensor's bytes. The model in memory is never changed: transforms see copies.
   */
  transformed?: {
    names: ReadonlySet<string>;
    ready: Promise<unknown>;
    /** Chunk buffers for these weights (e.g. in WebAssembly memory, where the transform works). */
    buffers: readonly Uint8Array[];
    transform: (tensor: TensorProto, bytes: Uint8Array, byteOffset: number) => void;
  };
  /** Called with the bytes written so far, after each chunk. */
  progress?: (written: number, total: number) => void;
}

/** Dirty data is flushed in the background every so often, so the final fsync is short. */
const FLUSH_EVERY = 256 << 20;

/**
 * writeModel with external data, streamed: weights are read in chunks into the given buffers
 * and written while the next chunks are read, so rewriting a model holds none of its weights
 * and keeps both cores busy (the main thread transforms; libuv's pool reads, writes and
 * flushes). The files appear atomically, data file first, as writeModel's do.
 */
export async function writeModelStreamed(model: OnnxModel, file: string, options: StreamedWriteOptions): Promise<void> {
  if (!usesExternalData(model, options)) {
    throw new OnnxFormatError(file, "external data", 'a streamed write keeps weights in a data file; this model would be written inline (externalData: "never", or a small inline model)');
  }
  const layout = externalLayout(model, file, options);
  const total = layout.placed.reduce((n, p) => n + p.length, 0);
  const changed = options.transformed;
  const asIs = layout.placed.filter((p) => !changed?.names.has(p.tensor.name));
  const toChange = changed ? layout.placed.filter((p) => changed.names.has(p.tensor.name)) : [];
  const end = layout.placed.reduce((n, p) => Math.max(n, p.offset + p.length), 0);
  await mkdir(path.dirname(layout.dataFile), { recursive: true });
  const tmpData = temporaryPath(layout.dataFile);
  const buffers = [...options.buffers, ...(changed?.buffers ?? [])];
  // Direct I/O where every buffer and offset allows it (4096-aligned buffers and chunks; our
  // layout aligns tensors to 4096), buffered writes otherwise.
  const direct = canWriteDirect(buffers) && layout.placed.every((p) => p.offset % DIRECT_IO_ALIGNMENT === 0);
  const directOut = direct ? await openForDirectWrites(tmpData, buffers[0]) : null;
  const out = directOut ?? (await open(tmpData, "w"));
  let flushing: Promise<void> | null = null;
  let written = 0;
  let unflushed = 0;
  const writeChunk = async (at: number, chunk: Uint8Array) => {
    const bytes = directOut ? padToBlocks(chunk) : chunk;
    for (let done = 0; done < bytes.byteLength; ) {
      const { bytesWritten } = await out.write(bytes, done, bytes.byteLength - done, at + done);
      done += bytesWritten;
    }
    written += chunk.byteLength;
    unflushed += chunk.byteLength;
    options.progress?.(written, total);
    if (!directOut && unflushed >= FLUSH_EVERY && !flushing) {
      unflushed = 0;
      flushing = out.datasync().finally(() => (flushing = null));
    }
  };
  // A failed selection stops the copying too.
  const abort = new AbortController();
  const stream = (placed: typeof layout.placed, buffers: readonly Uint8Array[], transform?: (tensor: TensorProto, bytes: Uint8Array, byteOffset: number) => void) =>
    forEachChunk(
      model.file,
      placed.map((p) => tensorSource(model, p.tensor)),
      buffers,
      ({ source, offset, bytes }) => {
        const { tensor, offset: at } = placed[source];
        transform?.(tensor, bytes, offset);
        return writeChunk(at + offset, bytes);
      },
      abort.signal,
    );
  try {
    const copying = stream(asIs, options.buffers);
    const changing = changed ? changed.ready.then(() => stream(toChange, changed.buffers, changed.transform)) : Promise.resolve();
    changing.catch((error: unknown) => abort.abort(error));
    // Both run to the end even when one fails, so that no write is left in flight.
    const outcomes = await Promise.allSettled([changing, copying]);
    const failed = outcomes.find((o) => o.status === "rejected");
    if (failed) throw failed.reason;
    await flushing;
    // Direct writes of a last partial block ran past the end with zeros.
    if (directOut) await out.truncate(end);
    await out.sync();
  } catch (error) {
    await Promise.resolve(flushing).catch(() => {});
    await out.close();
    await rm(tmpData, { force: true });
    throw error;
  }
  await out.close();
  await rename(tmpData, layout.dataFile);
  writeFileAtomic(file, layout.graphBytes());
}
