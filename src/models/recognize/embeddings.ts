import type { NodeProto } from "onnx-buf";
import { isFloatType } from "../../onnx/dtype.ts";
import type { Part, Role } from "../types.ts";
import { backwardNodes, initializerOf, inputsReached, type GraphIndex } from "./graph.ts";
import type { Linear } from "./linears.ts";

/** Positions computed from a sequence's length depend on its shape, not its values. */
const VALUE_BARRIERS = new Set(["Shape", "Size"]);

export interface Embedding {
  name: string;
  role: Extract<Role, "token_embedding" | "position_embedding" | "type_embedding">;
  part: Part;
}

/**
 * Embedding tables are the 2-D float initializers read by Gather (or by onnxruntime's
 * EmbedLayerNormalization). What indexes them tells their role: positions come from a Range
 * (or a position_ids input, or nothing at all), token types from a token_type_ids/segment
 * input, tokens from the ids.
 */
export function findEmbeddings(index: GraphIndex, _linears: Linear[], _slots: Map<Linear, unknown>, partOfNode: (n: NodeProto) => Part): Embedding[] {
  const lookups = new Map<string, { node: NodeProto; indices: string; fixed?: Embedding["role"] }[]>();
  const add = (name: string | undefined, node: NodeProto, indices: string, fixed?: Embedding["role"]) => {
    if (!name) return;
    const init = initializerOf(index, name);
    if (!init || !isFloatType(init.dataType) || index.shapes.get(init.name)!.length !== 2) return;
    const list = lookups.get(init.name) ?? [];
    list.push({ node, indices, fixed });
    lookups.set(init.name, list);
  };
  for (const node of index.nodes) {
    if (node.opType === "Gather" && (node.attribute.find((a) => a.name === "axis")?.i ?? 0n) === 0n) add(node.input[0], node, node.input[1]);
    if (node.opType === "EmbedLayerNormalization") {
      add(node.input[2], node, node.input[0], "token_embedding");
      add(node.input[3], node, node.input[8] ?? "", "position_embedding");
      if (node.input[4]) add(node.input[4], node, node.input[1], "type_embedding");
    }
  }
  const out: Embedding[] = [];
  for (const [name, uses] of lookups) {
    const first = uses[0];
    const role = first.fixed ?? classify(index, first.indices);
    const parts = new Set(uses.map((u) => partOfNode(u.node)));
    out.push({ name, role, part: parts.size > 1 ? "shared" : [...parts][0] });
  }
  return out;
}

function classify(index: GraphIndex, indices: string): Embedding["role"] {
  if (!indices) return "position_embedding";
  const inputs = [...inputsReached(index, indices, 60, VALUE_BARRIERS)];
  if (inputs.some((i) => /type|segment/i.test(i))) return "type_embedding";
  if (inputs.some((i) => /position/i.test(i))) return "position_embedding";
  const near = backwardNodes(index, indices, () => true, 40);
  if (near.some((n) => n.opType === "Range") || inputs.length === 0) return "position_embedding";
  return "token_embedding";
}
