import type { TensorProto } from "onnx-buf";
import { ByteRangeReader, tensorSource } from "../../onnx/chunks.ts";
import { elementBytes } from "../../onnx/dtype.ts";
import type { OnnxModel } from "../../onnx/model.ts";

const SAMPLES = 16;
/** Row blocks compared in full, spread over the matrix. */
const BLOCKS = 8;
const BLOCK_ROWS = 64;

/**
 * True when `b` holds the bytes of `a` transposed (or the same bytes, when `transposed` is
 * false): how exporters write a tied embedding a second time for the LM head. Sixteen
 * scattered elements are compared first, so unrelated matrices are rejected at once; a match
 * is then confirmed on eight blocks of 64 whole rows spread over the matrix. Comparing all of
 * a pegasus-large embedding (393 MB, transposed) costs about a second, every time a model is
 * mapped; the blocks cost milliseconds and no two different trained matrices pass them. Where
 * a tie is acted on (the pruning engine writes the copy with the target's mask), every element
 * is compared first (src/prune/load.ts).
 */
export function sameValues(model: OnnxModel, a: TensorProto, b: TensorProto, shapeA: number[], transposed: boolean): boolean {
  const size = elementBytes(a.dataType);
  if (size === undefined || a.dataType !== b.dataType || shapeA.length !== 2) return false;
  const [rows, cols] = shapeA;
  if (rows * cols === 0) return false;
  const ra = new ByteRangeReader(tensorSource(model, a));
  const rb = new ByteRangeReader(tensorSource(model, b));
  try {
    if (!samplesMatch(ra, rb, rows, cols, size, transposed)) return false;
    if (!transposed) return sameRowBlocks(ra, rb, rows, cols * size);
    // Blocks of the matrix with fewer columns: fewer, longer strided reads of the other one.
    return cols <= rows ? sameTransposedBlocks(ra, rb, rows, cols, size) : sameTransposedBlocks(rb, ra, cols, rows, size);
  } finally {
    ra.close();
    rb.close();
  }
}

/** First rows of BLOCKS blocks of BLOCK_ROWS rows, evenly spread (the first and last included). */
function blockStarts(rows: number): number[] {
  const n = Math.min(BLOCK_ROWS, rows);
  const starts = new Set<number>();
  for (let b = 0; b < BLOCKS; b++) starts.add(Math.floor((b * (rows - n)) / (BLOCKS - 1)));
  return [...starts];
}

function samplesMatch(ra: ByteRangeReader, rb: ByteRangeReader, rows: number, cols: number, size: number, transposed: boolean): boolean {
  const n = rows * cols;
  for (let s = 0; s < SAMPLES; s++) {
    const i = Math.floor((((s * 2654435761) % 4294967296) / 4294967296) * n);
    const r = Math.floor(i / cols);
    const c = i % cols;
    const j = transposed ? c * rows + r : i;
    if (Buffer.compare(ra.read(i * size, size), rb.read(j * size, size)) !== 0) return false;
  }
  return true;
}

function sameRowBlocks(ra: ByteRangeReader, rb: ByteRangeReader, rows: number, rowBytes: number): boolean {
  const n = Math.min(BLOCK_ROWS, rows);
  for (const r0 of blockStarts(rows)) {
    if (Buffer.compare(ra.read(r0 * rowBytes, n * rowBytes), rb.read(r0 * rowBytes, n * rowBytes)) !== 0) return false;
  }
  return true;
}

/** a is [rows, cols], b should be [cols, rows] with b[c][r] = a[r][c]: rows r0..r0+64 of a against b[.][r0..r0+64]. */
function sameTransposedBlocks(ra: ByteRangeReader, rb: ByteRangeReader, rows: number, cols: number, size: number): boolean {
  const n = Math.min(BLOCK_ROWS, rows);
  const gathered = new Uint8Array(n * cols * size);
  for (const r0 of blockStarts(rows)) {
    const block = ra.read(r0 * cols * size, n * cols * size);
    for (let c = 0; c < cols; c++) gathered.set(rb.read((c * rows + r0) * size, n * size), c * n * size);
    if (!sameAfterTranspose(block, gathered, n, cols, size)) return false;
  }
  return true;
}

/** block[r][c] == gathered[c][r] for an n x cols block, compared in the widest aligned unit. */
function sameAfterTranspose(block: Uint8Array, gathered: Uint8Array, n: number, cols: number, size: number): boolean {
  const unit = [4, 2, 1].find((u) => size % u === 0 && block.byteOffset % u === 0 && gathered.byteOffset % u === 0)!;
  const view = (bytes: Uint8Array) =>
    unit === 4 ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : unit === 2 ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2) : bytes;
  const x = view(block);
  const y = view(gathered);
  const per = size / unit;
  // In 64 x 64 tiles, so that both the rows of the block and the strided reads of the gathered
  // columns stay in L1 (row by row, every read of `gathered` would miss the cache).
  const TILE = 64;
  for (let r0 = 0; r0 < n; r0 += TILE) {
    const r1 = Math.min(n, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) {
          const i = (r * cols + c) * per;
          const j = (c * n + r) * per;
          for (let k = 0; k < per; k++) if (x[i + k] !== y[j + k]) return false;
        }
      }
    }
  }
  return true;
}
