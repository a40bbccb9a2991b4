/**
 * The pruning method contract. A method sees the chosen weights as fp32 arrays and returns
 * one keep-mask per weight; the engine (engine.ts) loads the targets, zeroes what the masks
 * drop, writes the model and the mask file, and counts. Calibrated methods (Wanda, SparseGPT,
 * OWL) are mask methods too; structured pruning is a graph rewrite (GraphMethod). All are
 * listed in registry.ts.
 */
import type { OnnxModel } from "../onnx/model.ts";
import type { TensorProto } from "onnx-buf";
import type { MatrixLayout, ModelMap, ParamInfo } from "../models/types.ts";
import type { Bitmask } from "./bitmask.ts";
import type { PruneResult } from "./result.ts";

/** A tied copy of a target (ParamInfo.duplicateOf), written with the target's mask and values. */
export interface TargetCopy {
  name: string;
  shape: number[];
  /** The copy is the 2-D transpose of the target (a tied embedding read by the LM head's MatMul). */
  transposed: boolean;
}

/** One weight tensor to prune, loaded as fp32. */
export interface PruneTarget {
  name: string;
  shape: number[];
  count: number;
  info: ParamInfo;
  /** For 2-D matrices: which axis is the input ("in_out" = [in, out], ONNX MatMul). */
  layout?: MatrixLayout;
  /**
   * The values. For fp32 tensors this is the output buffer itself: what a method writes here
   * (SparseGPT's reconstruction) is what the pruned model holds. Other float types are
   * converted copies that the engine writes back.
   */
  weights: Float32Array;
  copies: TargetCopy[];
}

/** Keep-masks by target name, one for every target given to the method. */
export type MaskSet = Map<string, Bitmask>;

export interface PruneRequest<O> {
  /** Fraction of weights to zero in each scope; exactly round(s*n) of them. */
  sparsity: number;
  options: O;
}

/** What a method may talk to besides its targets. */
export interface PruneContext {
  model: OnnxModel;
  map: ModelMap;
  /** Seed for methods with randomness; the same seed gives the same masks. */
  seed: number;
  /** Progress lines (to stderr in the CLI). */
  log: (message: string) => void;
  /**
   * Activations for calibrated methods (Wanda, SparseGPT). Defined by src/prune/calibrated,
   * which narrows it; magnitude methods ignore it.
   */
  calibration?: unknown;
}

/**
 * "matrix": round(s*n) per weight tensor (torch l1_unstructured); "global": one threshold over
 * all targets (torch global_unstructured); "group": fixed groups such as N:M; "row": per output
 * row (Wanda); "structure": whole heads or channels.
 */
export type PruneScope = "matrix" | "global" | "group" | "row" | "structure";

/** What every method declares, mask methods and graph rewrites alike (registry.ts lists them). */
export interface MethodInfo<O> {
  /** Name used on the command line, in configs and in results (Run.method). */
  name: string;
  description: string;
  /**
   * The option a single value in a config stands for: with "pattern", `{ nm: "2:4" }` is
   * `{ nm: { pattern: "2:4" } }`. Without one the method takes its options as a map only.
   */
  optionKey?: string;
  /** Needs calibration data (`context.calibration`). */
  calibrated: boolean;
  /** Validates raw options (CLI flags, a config map); errors name the option. */
  parseOptions(raw: Record<string, unknown>): O;
  /** The sparsity fixed by the options (N:M gives (M-N)/M), or null when the request sets it. */
  impliedSparsity?(options: O): number | null;
  /**
   * What tells two runs of the method apart in a run id (Run.id, src/prune/spec.ts), from the
   * options as written: N:M's pattern, magnitude's global scope, random's seed. None: the
   * name alone.
   */
  runIdParts?(raw: Record<string, unknown>): string[];
}

/** A method that chooses masks: the engine (engine.ts) zeroes what they drop. */
export interface PruneMethod<O = Record<string, unknown>> extends MethodInfo<O> {
  rewritesGraph?: false;
  scope: PruneScope;
  /**
   * Writes new values into `weights` besides choosing masks (SparseGPT's reconstruction). The
   * engine then writes every value back; otherwise it only zeroes the pruned positions, which
   * keeps fp16/fp64 weights bit-exact.
   */
  updatesWeights?: boolean;
  /** Options as recorded in results (Run.options). */
  describeOptions?(options: O): Record<string, unknown>;
  selectMasks(targets: PruneTarget[], request: PruneRequest<O>, context: PruneContext): MaskSet | Promise<MaskSet>;
}

/** What a graph rewrite is asked to do: one model file in, a smaller one out (no mask). */
export interface RewriteRequest<O> {
  input: string;
  output: string;
  /** The sweep's sparsity; the options may fix parts of it. */
  sparsity?: number;
  options: O;
  externalData?: "auto" | "always" | "never";
  log: (message: string) => void;
}

/**
 * A method that rewrites the graph instead of masking weights (structured pruning removes
 * heads and neurons, so the matrices shrink): it writes the model itself and has no mask.
 */
export interface GraphMethod<O = Record<string, unknown>> extends MethodInfo<O> {
  rewritesGraph: true;
  rewriteFile(request: RewriteRequest<O>): PruneResult | Promise<PruneResult>;
}

export type AnyMethod = PruneMethod<unknown> | GraphMethod<unknown>;

/** A target's tensor in the model, kept by the engine to write values back. */
export interface LoadedTensor {
  tensor: TensorProto;
  /** The tensor's bytes in the output buffer. */
  bytes: Uint8Array;
  /** `weights` shares memory with `bytes` (aligned fp32). */
  isView: boolean;
}
