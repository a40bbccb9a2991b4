import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";

/**
 * Direct I/O (O_DIRECT) for writing large weight files. Buffered writes of a fresh multi-GB
 * file go through newly allocated page-cache pages and a writeback afterwards; on the VMs CI
 * and self-hosted runners use, page allocation dominates (pegasus-large's 2.7 GB: 5 to 7 s
 * buffered with fsync, 2 to 2.6 s direct on the same disk). Direct writes DMA from our own
 * buffers, cost almost no CPU, and are on disk when they return.
 *
 * O_DIRECT needs buffer addresses, file offsets and lengths on the device's logical block
 * size; 4096 covers every common one. JS cannot see an ArrayBuffer's address, so buffers are
 * vouched for: those carved from a WebAssembly memory (mapped pages) at 4096-byte offsets.
 */
export const DIRECT_IO_ALIGNMENT = 4096;
const vouched = new WeakSet<Uint8Array>();

/** `count` buffers of `size` bytes (a multiple of 4096) in their own WebAssembly memory. */
export function alignedBuffers(count: number, size: number): Uint8Array[] {
  const stride = Math.ceil(size / 65536) * 65536;
  const pages = Math.max(1, (stride * count) / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const buffers = Array.from({ length: count }, (_, i) => new Uint8Array(memory.buffer, i * stride, size));
  markAligned(buffers);
  return buffers;
}

/** Records views of WebAssembly memory that start on a 4096-byte offset as usable for direct I/O. */
export function markAligned(buffers: readonly Uint8Array[]): void {
  for (const b of buffers) if (b.byteOffset % DIRECT_IO_ALIGNMENT === 0 && b.byteLength % DIRECT_IO_ALIGNMENT === 0) vouched.add(b);
}

export function canWriteDirect(buffers: readonly Uint8Array[]): boolean {
  return constants.O_DIRECT !== undefined && buffers.length > 0 && buffers.every((b) => vouched.has(b));
}

/**
 * Opens a new file for direct writes, or null where the file system refuses O_DIRECT: at open
 * (tmpfs, older overlayfs) or at the first write (some FUSE and network file systems), which a
 * probe block written from `scratch` (a vouched buffer not in use yet) finds out.
 */
export async function openForDirectWrites(file: string, scratch: Uint8Array): Promise<FileHandle | null> {
  const refused = (error: unknown) => ["EINVAL", "EOPNOTSUPP"].includes((error as NodeJS.ErrnoException).code ?? "");
  let fh: FileHandle;
  try {
    fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, 0o666);
  } catch (error) {
    if (refused(error)) return null;
    throw error;
  }
  try {
    const probe = scratch.subarray(0, DIRECT_IO_ALIGNMENT).fill(0);
    await fh.write(probe, 0, probe.byteLength, 0);
    return fh;
  } catch (error) {
    await fh.close();
    if (refused(error)) return null;
    throw error;
  }
}

/**
 * The chunk, extended with zeros to a whole number of blocks: a chunk view of a vouched buffer
 * (the buffer has the room). Written at an aligned offset, the zeros land in the alignment gap
 * before the next tensor, or past the end of the file, which is truncated afterwards.
 */
export function padToBlocks(chunk: Uint8Array): Uint8Array {
  const padded = Math.ceil(chunk.byteLength / DIRECT_IO_ALIGNMENT) * DIRECT_IO_ALIGNMENT;
  const view = new Uint8Array(chunk.buffer, chunk.byteOffset, padded);
  view.fill(0, chunk.byteLength);
  return view;
}
