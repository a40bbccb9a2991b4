// A streaming reader of npm's tarballs (ustar, with pax and GNU long names, as npm pack and
// older packers write them) that writes the files a caller keeps. Plain JavaScript, for
// action/registry-install.js, which runs before anything is installed.
import { Buffer } from "node:buffer";
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";

function tarString(block, start, length) {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? length : end).toString("utf8");
}

function tarNumber(block, start, length, what) {
  if (block[start] & 0x80) throw new Error(`tar entry ${what} has a base-256 size or mode (over 8 GB): not an npm package`);
  const text = tarString(block, start, length).trim();
  return text ? parseInt(text, 8) : 0;
}

/** "key=value" records of a pax extended header ("<length> <key>=<value>\n" each). */
function paxRecords(buffer) {
  const out = {};
  let at = 0;
  while (at < buffer.length) {
    const space = buffer.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number(buffer.subarray(at, space).toString());
    if (!Number.isInteger(length) || length <= 0) break;
    const record = buffer.subarray(space + 1, at + length - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return out;
}

/**
 * A Writable that reads a tar stream and writes the regular files for which keep(relative path) is true under
 * dest. The first path component ("package/") is dropped, as npm drops it; links are skipped,
 * as npm skips them; a path that climbs out of dest, or a header with a bad checksum, is refused.
 */
export class TarExtractor extends Writable {
  #dest;
  #keep;
  #header = Buffer.alloc(0);
  #entry = null;
  #longName = null;
  #ended = false;
  #dirs = new Set();

  constructor(dest, keep = () => true) {
    super();
    this.#dest = dest;
    this.#keep = keep;
  }

  _write(chunk, _encoding, callback) {
    try {
      this.#feed(chunk);
      callback();
    } catch (error) {
      callback(error);
    }
  }

  _final(callback) {
    callback(this.#entry || this.#header.length ? new Error("the tarball ends in the middle of an entry") : null);
  }

  _destroy(error, callback) {
    if (this.#entry?.fd != null) closeSync(this.#entry.fd);
    this.#entry = null;
    callback(error);
  }

  #feed(chunk) {
    let at = 0;
    while (at < chunk.length && !this.#ended) {
      const entry = this.#entry;
      if (!entry) {
        const take = Math.min(512 - this.#header.length, chunk.length - at);
        this.#header = Buffer.concat([this.#header, chunk.subarray(at, at + take)]);
        at += take;
        if (this.#header.length === 512) {
          const header = this.#header;
          this.#header = Buffer.alloc(0);
          this.#begin(header);
        }
        continue;
      }
      if (entry.remaining > 0) {
        const part = chunk.subarray(at, at + Math.min(entry.remaining, chunk.length - at));
        if (entry.fd != null) for (let done = 0; done < part.length; ) done += writeSync(entry.fd, part, done);
        if (entry.meta) entry.meta.push(Buffer.from(part));
        entry.remaining -= part.length;
        at += part.length;
        if (entry.remaining > 0) continue;
      }
      if (!entry.finished) this.#finish(entry);
      const skip = Math.min(entry.padding, chunk.length - at);
      entry.padding -= skip;
      at += skip;
      if (entry.padding === 0) this.#entry = null;
    }
  }

  #begin(header) {
    if (header.every((b) => b === 0)) {
      this.#ended = true; // the end-of-archive blocks; anything after them is padding
      return;
    }
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
    if (sum !== tarNumber(header, 148, 8, "checksum")) throw new Error("not a tar archive (a header's checksum is wrong)");
    const type = String.fromCharCode(header[156] || 0x30);
    const size = tarNumber(header, 124, 12, "size");
    const prefix = tarString(header, 257, 6) === "ustar" ? tarString(header, 345, 155) : "";
    const name = this.#longName?.path ?? (prefix ? `${prefix}/${tarString(header, 0, 100)}` : tarString(header, 0, 100));
    const entry = { type, name, mode: tarNumber(header, 100, 8, "mode"), remaining: size, padding: (512 - (size % 512)) % 512, fd: null, meta: null, finished: false };
    if (type === "x" || type === "L" || type === "g") entry.meta = [];
    else {
      this.#longName = null;
      const rel = this.#relative(name);
      if (rel && (type === "0" || type === "7") && this.#keep(rel)) {
        const file = path.join(this.#dest, rel);
        this.#mkdir(path.dirname(file));
        // npm's modes: 644, or 755 where the packer marked the file executable.
        entry.fd = openSync(file, "w", entry.mode & 0o111 ? 0o755 : 0o644);
      }
    }
    this.#entry = entry;
  }

  #finish(entry) {
    entry.finished = true;
    if (entry.fd != null) {
      closeSync(entry.fd);
      entry.fd = null;
    }
    if (entry.type === "x") {
      const records = paxRecords(Buffer.concat(entry.meta));
      this.#longName = records.path ? { path: records.path } : null;
    } else if (entry.type === "L") this.#longName = { path: tarString(Buffer.concat(entry.meta), 0, entry.meta.reduce((n, b) => n + b.length, 0)) };
  }

  /** The path inside the package ("package/dist/x.js" is "dist/x.js"); null for the top folder itself. */
  #relative(name) {
    const parts = name.split("/").filter((p) => p !== "" && p !== ".");
    if (name.startsWith("/") || name.includes("\\") || parts.includes("..")) throw new Error(`tar entry ${JSON.stringify(name)} would be written outside the package`);
    return parts.length > 1 ? parts.slice(1).join("/") : null;
  }

  #mkdir(dir) {
    if (this.#dirs.has(dir)) return;
    mkdirSync(dir, { recursive: true });
    this.#dirs.add(dir);
  }
}
