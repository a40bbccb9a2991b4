/**
 * Graph edits for structured pruning: slicing weights along an axis, and rewriting the integer
 * constants (Reshape shapes, Split sizes) that carry an attention block's head count and width.
 */
import type { GraphProto, NodeProto, TensorProto } from "onnx-buf";
import { DataType } from "../../onnx/dtype.ts";
import { Emitter, makeAttribute } from "../../onnx/emit.ts";
import { consumers, getAttribute, producers } from "../../onnx/graph.ts";
import { graphOf, type OnnxModel } from "../../onnx/model.ts";
import { readFloat32, readIntegers, setFloatValues, tensorShape } from "../../onnx/tensor.ts";
import { PruneError } from "../errors.ts";

/** Keeps the given indices of `axis` of a 1-D or 2-D float tensor, in place in the proto. */
export function sliceTensor(model: OnnxModel, tensor: TensorProto, axis: number, keep: readonly number[]): void {
  const shape = tensorShape(model, tensor);
  const { data } = readFloat32(model, tensor);
  // Written back in the tensor's own type: an fp16 graph stays fp16.
  if (shape.length === 1) {
    setFloatValues(tensor, Float32Array.from(keep, (i) => data[i]));
  } else if (shape.length === 2) {
    const [rows, cols] = shape;
    if (axis === 0) {
      const out = new Float32Array(keep.length * cols);
      keep.forEach((r, k) => out.set(data.subarray(r * cols, (r + 1) * cols), k * cols));
      setFloatValues(tensor, out);
    } else {
      const out = new Float32Array(rows * keep.length);
      for (let r = 0; r < rows; r++) for (let k = 0; k < keep.length; k++) out[r * keep.length + k] = data[r * cols + keep[k]];
      setFloatValues(tensor, out);
    }
  } else {
    throw new PruneError(`${tensor.name}: structured pruning slices 1-D and 2-D tensors, this one has shape [${shape.join(", ")}]`);
  }
  const dims = [...shape];
  dims[shape.length === 1 ? 0 : axis] = keep.length;
  tensor.dims = dims.map(BigInt);
}

/**
 * Nodes between `starts` and `stops`: reachable forward from `starts` without passing a stop,
 * and ancestors of a stop (shape computations of a torch export otherwise lead into the next
 * layer, which reads the same batch and sequence sizes).
 */
export function forwardRegion(graph: GraphProto, starts: readonly NodeProto[], stops: ReadonlySet<NodeProto>): NodeProto[] {
  const uses = consumers(graph);
  const made = producers(graph);
  const ancestors = new Set<NodeProto>();
  const back = [...stops];
  while (back.length) {
    const node = back.pop()!;
    if (ancestors.has(node)) continue;
    ancestors.add(node);
    for (const input of node.input) {
      const p = made.get(input);
      if (p && !ancestors.has(p)) back.push(p);
    }
  }
  const seen = new Set<NodeProto>();
  const queue = [...starts];
  while (queue.length) {
    const node = queue.shift()!;
    if (seen.has(node)) continue;
    seen.add(node);
    if (stops.has(node)) continue;
    for (const out of node.output) for (const next of uses.get(out) ?? []) if (!seen.has(next)) queue.push(next);
  }
  return [...seen].filter((n) => ancestors.has(n));
}

interface Piece {
  /** Index of the input in the node that reads it. */
  node: NodeProto;
  input: number;
  values: number[] | null;
}

/** The integer values of a tensor name: an initializer, a Constant, or an Unsqueeze/Cast of one. */
function constantOf(model: OnnxModel, graph: GraphProto, made: Map<string, NodeProto>, name: string): number[] | null {
  const init = graph.initializer.find((t) => t.name === name);
  if (init) return init.dataType === DataType.INT64 || init.dataType === DataType.INT32 ? readIntegers(model, init) : null;
  const node = made.get(name);
  if (!node) return null;
  if (node.opType === "Constant") {
    const t = getAttribute(node, "value")?.t;
    return t && (t.dataType === DataType.INT64 || t.dataType === DataType.INT32) ? readIntegers(model, t) : null;
  }
  if (node.opType === "Unsqueeze" || node.opType === "Cast") return constantOf(model, graph, made, node.input[0]);
  return null;
}

/**
 * Rewrites a head count H followed by the head size dh to H', and the width H*dh to H'*dh, in
 * every shape constant of the region's Reshapes (directly, or the constant pieces of a Concat
 * that builds the shape) and in the sizes of its Splits. New constants get new names, so a
 * constant shared with another block is left alone.
 */
export function rewriteHeadConstants(model: OnnxModel, region: readonly NodeProto[], heads: number, headSize: number, kept: number, width: number, keptWidth: number): number {
  const graph = graphOf(model);
  const made = producers(graph);
  const e = new Emitter(graph);
  let changed = 0;
  const replace = (piece: Piece, values: number[], scalar = false) => {
    piece.node.input[piece.input] = e.tensor(`${piece.node.name || piece.node.opType}_pb_structured_${piece.input}`, DataType.INT64, values, scalar ? [] : [values.length]);
    changed++;
  };
  const rewrite = (pieces: Piece[]) => {
    const flat: { value: number | null; piece: number; at: number }[] = [];
    pieces.forEach((p, i) => (p.values ?? [null]).forEach((v, at) => flat.push({ value: p.values ? v : null, piece: i, at })));
    const next = pieces.map((p) => (p.values ? [...p.values] : null));
    for (let i = 0; i < flat.length; i++) {
      const f = flat[i];
      if (f.value === null) continue;
      // (H, dh) together, or H third of four with a computed head size (torch export).
      const pair = flat[i + 1]?.value === headSize || (flat[i + 1]?.value === null && i === flat.length - 2 && flat.length === 4);
      if (f.value === heads && pair) next[f.piece]![f.at] = kept;
      else if (f.value === width && width !== headSize) next[f.piece]![f.at] = keptWidth;
    }
    pieces.forEach((p, i) => {
      if (p.values && next[i]!.some((v, k) => v !== p.values![k])) replace(p, next[i]!);
    });
  };
  for (const node of region) {
    if (node.opType === "Reshape") {
      const shape = node.input[1];
      const direct = constantOf(model, graph, made, shape);
      if (direct) {
        rewrite([{ node, input: 1, values: direct }]);
        continue;
      }
      const concat = made.get(shape);
      if (concat?.opType === "Concat") rewrite(concat.input.map((name, input) => ({ node: concat, input, values: constantOf(model, graph, made, name) })));
    } else if (node.opType === "Div") {
      // A torch export computes the head size as (width read from a Shape) / H.
      const divisor = constantOf(model, graph, made, node.input[1]);
      const source = graph.initializer.find((t) => t.name === node.input[1]) ?? getAttribute(made.get(node.input[1]) ?? node, "value")?.t;
      if (divisor?.length === 1 && divisor[0] === heads) replace({ node, input: 1, values: divisor }, [kept], source?.dims.length === 0);
    } else if (node.domain === "com.microsoft" && ["Attention", "MultiHeadAttention", "RotaryEmbedding"].includes(node.opType)) {
      // Fused attention carries the head count as an attribute (RotaryEmbedding's 0 means "inferred").
      const n = getAttribute(node, "num_heads");
      if (n && Number(n.i) === heads) {
        n.i = BigInt(kept);
        changed++;
      }
      const sizes = getAttribute(node, "qkv_hidden_sizes");
      if (sizes?.ints.length && sizes.ints.every((v) => Number(v) === width)) sizes.ints = sizes.ints.map(() => BigInt(keptWidth));
    } else if (node.opType === "Split") {
      const sizes = node.input[1] ? constantOf(model, graph, made, node.input[1]) : null;
      if (sizes) {
        if (sizes.every((s) => s === width)) replace({ node, input: 1, values: sizes }, sizes.map(() => keptWidth));
      } else {
        const attribute = getAttribute(node, "split");
        const values = attribute?.ints.map(Number);
        if (values?.length && values.every((s) => s === width)) {
          node.attribute = node.attribute.filter((a) => a.name !== "split");
          node.attribute.push(makeAttribute("split", values.map(() => keptWidth)));
          changed++;
        }
      }
    }
  }
  return changed;
}

/**
 * The declared shapes of the KV caches a region reads (past_*) and writes (present_*): the
 * head axis (the dimension equal to H, before a last dimension equal to dh) becomes H'. The
 * caches of fused attention carry the head count, e.g. past_0 [2, batch, H, past, dh].
 */
export function rewriteCacheShapes(graph: GraphProto, region: readonly NodeProto[], heads: number, headSize: number, kept: number): void {
  const read = new Set(region.flatMap((n) => n.input));
  const written = new Set(region.flatMap((n) => n.output));
  for (const info of [...graph.input.filter((i) => read.has(i.name)), ...graph.output.filter((o) => written.has(o.name))]) {
    if (info.type?.value.case !== "tensorType") continue;
    const dims = info.type.value.value.shape?.dim ?? [];
    const value = (i: number) => (dims[i]?.value.case === "dimValue" ? Number(dims[i].value.value) : null);
    if (dims.length < 2 || value(dims.length - 1) !== headSize) continue;
    const axis = dims.findIndex((_, i) => i < dims.length - 1 && value(i) === heads);
    if (axis >= 0) dims[axis].value = { case: "dimValue", value: BigInt(kept) };
  }
}
