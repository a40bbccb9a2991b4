import picomatch from "picomatch";
import type { ModelMap, ParamInfo } from "../models/types.ts";
import { isFloatType } from "../onnx/dtype.ts";
import { PruneError } from "./errors.ts";

/**
 * Which initializers a run prunes. A pattern (picomatch glob; `*` also crosses `/`, since
 * exported names such as "/model/layers.0/..." contain slashes) is matched against each
 * parameter's
 *   - initializer name:   "transformer.h.0.attn.c_attn.weight", "onnx::MatMul_1234"
 *   - map path:           "<part>.<layer>.<block>.<role>", e.g. "decoder.0.attention.q"
 *   - short map path:     the same with attn / cross_attn / mlp / embed / norm / head as block,
 *                         e.g. "encoder.3.attn.o" (cross-attention matches attn too): so
 *                         ["*.attn.*", "*.mlp.*"] works for every family, also where constant
 *                         folding erased the names (BERT, Pegasus)
 *   - role and block alone: "fc_in", "q", "mlp", "attention"
 * Without `include`, the map's `prunable` parameters (attention and MLP matrices) are chosen.
 * Globs choose matrices: a 1-D tensor (bias, norm scale) is chosen only when a pattern is its
 * exact name or role, so ["*.attn.*", "*.mlp.*"] leaves biases dense, as a config expects.
 * `exclude` removes matches afterwards.
 */
export interface TargetPatterns {
  include?: readonly string[];
  exclude?: readonly string[];
}

/** A chosen parameter and its tied copies (ParamInfo.duplicateOf), pruned once, written twice. */
export interface TargetGroup {
  info: ParamInfo;
  copies: ParamInfo[];
}

const SHORT_BLOCK: Record<string, string> = {
  embedding: "embed",
  attention: "attn",
  "cross-attention": "cross_attn",
  mlp: "mlp",
  norm: "norm",
  head: "head",
  other: "other",
};

export function matchKeys(p: ParamInfo): string[] {
  const layer = p.layer === null ? "x" : String(p.layer);
  const keys = [p.name, `${p.part}.${layer}.${p.block}.${p.role}`, `${p.part}.${layer}.${SHORT_BLOCK[p.block] ?? p.block}.${p.role}`, p.role, p.block];
  // Cross-attention is attention too: "*.attn.*" takes it, "*.cross_attn.*" takes it alone.
  if (p.block === "cross-attention") keys.push(`${p.part}.${layer}.attn.${p.role}`);
  return keys;
}

function matcher(patterns: readonly string[]): (p: ParamInfo) => boolean {
  const isMatch = picomatch(patterns as string[], { bash: true, dot: true, windows: false });
  return (p) => matchKeys(p).some((key) => isMatch(key));
}

/** Patterns that choose exactly these parameters by name (glob characters escaped). */
export function exactPatterns(names: readonly string[]): TargetPatterns {
  return { include: names.map((n) => n.replace(/[*?[\]{}()!+@\\]/g, "\\$&")) };
}

export function chooseTargets(map: ModelMap, patterns: TargetPatterns = {}): TargetGroup[] {
  const byName = new Map(map.params.map((p) => [p.name, p]));
  const primaryOf = (p: ParamInfo): ParamInfo => {
    if (!p.duplicateOf) return p;
    const primary = byName.get(p.duplicateOf);
    if (!primary) throw new PruneError(`${p.name}: the model map says it duplicates ${JSON.stringify(p.duplicateOf)}, which is not a parameter`);
    if (primary.duplicateOf) throw new PruneError(`${p.name}: duplicates ${primary.name}, itself a duplicate of ${primary.duplicateOf}`);
    return primary;
  };
  const literal = new Set(patterns.include ?? []);
  const globs = patterns.include?.length ? matcher(patterns.include) : undefined;
  const include = globs ? (p: ParamInfo) => (p.shape.length >= 2 ? globs(p) : literal.has(p.name) || literal.has(p.role)) : (p: ParamInfo) => p.prunable;
  const exclude = patterns.exclude?.length ? matcher(patterns.exclude) : () => false;
  const float = (p: ParamInfo) => isFloatType(p.dataType) && p.count > 0;
  const chosen = new Set<string>();
  for (const p of map.params) {
    if (float(p) && include(p) && !exclude(p)) chosen.add(primaryOf(p).name);
  }
  if (chosen.size === 0) {
    const what = patterns.include?.length ? `include ${JSON.stringify(patterns.include)}` : "the model map's prunable parameters";
    const but = patterns.exclude?.length ? ` after exclude ${JSON.stringify(patterns.exclude)}` : "";
    throw new PruneError(`no float weight matches ${what}${but} (${map.params.length} parameters in a ${map.family} model; patterns match names, "part.layer.block.role" paths, roles and blocks)`);
  }
  const groups: TargetGroup[] = [];
  for (const p of map.params) {
    if (!chosen.has(p.name) || p.duplicateOf) continue;
    groups.push({ info: p, copies: map.params.filter((c) => c.duplicateOf === p.name) });
  }
  return groups;
}
