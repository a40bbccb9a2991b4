import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync, mkdirSync } from "node:fs";
import path from "node:path";

/** A temporary name beside the target, on the same file system, so rename is atomic. */
export function temporaryPath(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
}

/**
 * Writes a file so that readers see the old content or the new, never half of it: `fill`
 * writes into a temporary file beside the target, which is synced and renamed over the target
 * only when `fill` returns. A throw (or a crash, or kill -9) leaves the target as it was; the
 * throw also removes the temporary file.
 */
export function writeAtomicWith<T>(file: string, fill: (fd: number) => T): T {
  const tmp = openTemporary(file);
  try {
    const result = fill(tmp.fd);
    fsyncSync(tmp.fd);
    tmp.publish();
    return result;
  } finally {
    tmp.discard();
  }
}

/** writeAtomicWith for writers that wait (a download, a stream). */
export async function writeAtomicWithAsync<T>(file: string, fill: (fd: number) => Promise<T>): Promise<T> {
  const tmp = openTemporary(file);
  try {
    const result = await fill(tmp.fd);
    fsyncSync(tmp.fd);
    tmp.publish();
    return result;
  } finally {
    tmp.discard();
  }
}

function openTemporary(file: string): { fd: number; publish(): void; discard(): void } {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = temporaryPath(file);
  const fd = openSync(tmp, "w");
  let open = true;
  let published = false;
  return {
    fd,
    publish() {
      closeSync(fd);
      open = false;
      renameSync(tmp, file);
      published = true;
    },
    discard() {
      if (open) closeSync(fd);
      if (!published) rmSync(tmp, { force: true });
    },
  };
}

/** Writes all of `bytes` at `position` (or at the file's current offset), however the OS splits it. */
export function writeAllAt(fd: number, bytes: Uint8Array, position?: number): void {
  for (let done = 0; done < bytes.byteLength; ) {
    const length = Math.min(bytes.byteLength - done, 1 << 30);
    done += writeSync(fd, bytes, done, length, position === undefined ? null : position + done);
  }
}

/** Writes a file atomically (see writeAtomicWith); `data` may come in parts, written in order. */
export function writeFileAtomic(file: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  const parts = typeof data === "string" ? [Buffer.from(data, "utf8")] : data instanceof Uint8Array ? [data] : data;
  writeAtomicWith(file, (fd) => {
    for (const bytes of parts) writeAllAt(fd, bytes);
  });
}

/** Writes a JSON document atomically, with a trailing newline. */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}
