/**
 * What prunebench knows about a model's parameters: the contract between the family
 * recognisers (src/models) and every stage that groups, selects or rewrites weights.
 */

export type Family = "decoder" | "encoder" | "encoder-decoder";

/** Which stack a parameter belongs to; "shared" is used by both (a tied embedding, say). */
export type Part = "encoder" | "decoder" | "shared";

export type Block = "embedding" | "attention" | "cross-attention" | "mlp" | "norm" | "head" | "other";

export type Role =
  | "token_embedding"
  | "position_embedding"
  | "type_embedding"
  | "q"
  | "k"
  | "v"
  | "qkv"
  | "o"
  | "fc_in"
  | "fc_out"
  | "gate"
  | "norm_scale"
  | "norm_bias"
  | "bias"
  | "lm_head"
  | "head_transform"
  | "pooler"
  | "other";

/**
 * How a 2-D weight is applied: "in_out" is x @ W with W [in, out] (ONNX MatMul, GPT-2 Conv1D);
 * "out_in" is x @ W^T with W [out, in] (Gemm transB=1, Gather tables read by row).
 */
export type MatrixLayout = "in_out" | "out_in";

export interface ParamInfo {
  /** Initializer name in the graph. */
  name: string;
  shape: number[];
  /** ONNX TensorProto data type number. */
  dataType: number;
  count: number;
  part: Part;
  /** Layer index within its part; null for embeddings, final norms and heads. */
  layer: number | null;
  block: Block;
  role: Role;
  /** For 2-D weights used in a matrix product: which axis is the input. */
  layout?: MatrixLayout;
  /** For a weight matrix: the bias initializer added to its product, if any. */
  bias?: string;
  /** Chosen for pruning by default: attention and MLP matrices. */
  prunable: boolean;
  /**
   * Set when this initializer holds the same values as another one (a tied embedding written
   * twice by the exporter, once transposed). Counted once, pruned once.
   */
  duplicateOf?: string;
  /** Names of the nodes that read it. */
  consumers: string[];
  /**
   * Not a trained parameter: shape constants, scalars, causal-mask buffers, rotary caches.
   * Parameter counts leave these out (torch does not count buffers either).
   */
  buffer?: boolean;
}

export interface ModelMap {
  family: Family;
  /** e.g. "gpt2 (torch export, plain ops)", "gpt2 (onnxruntime fused)", "bert", "pegasus". */
  architecture: string;
  /** Layers per part, as recognised. */
  layers: { encoder: number; decoder: number };
  params: ParamInfo[];
  /** What recognition had to assume or could not tell; shown in reports. */
  notes: string[];
}
