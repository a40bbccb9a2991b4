import type { Family } from "../types.ts";

/** Sizes of a built model. */
export interface ArchitectureConfig {
  layers: number;
  /** Decoder layers of an encoder-decoder (defaults to `layers`). */
  decoderLayers?: number;
  dModel: number;
  heads: number;
  dFF: number;
  vocab: number;
  positions: number;
}

export type PresetName = "tiny" | "gpt2" | "bert-base" | "pegasus-large";

export interface BuildOptions {
  family: Family;
  preset?: PresetName;
  /** Overrides of the preset's sizes. */
  sizes?: Partial<ArchitectureConfig>;
  seed?: number;
  /**
   * Decoder only: the Hugging Face / optimum "with past" layout, past_key_values.N.key/value
   * [batch, heads, past, head size] inputs and present.N.key/value outputs, attention_mask
   * over past + new tokens. The weights are the same as without.
   */
  kvCache?: boolean;
}

/** The vocabularies of the tokenizers each family is paired with (GPT-2 BPE, bert-base-uncased). */
const DEFAULT_VOCAB: Record<Family, number> = { decoder: 50257, encoder: 30522, "encoder-decoder": 50257 };

/**
 * The study's models (Hugging Face configs gpt2, bert-base-uncased, google/pegasus-large) and a
 * tiny size for tests and the demo, whose vocabulary follows the family's tokenizer unless set.
 */
export const PRESETS: Record<PresetName, (family: Family) => ArchitectureConfig> = {
  tiny: (family) => ({ layers: 2, dModel: 64, heads: 4, dFF: 256, vocab: DEFAULT_VOCAB[family], positions: 256 }),
  gpt2: () => ({ layers: 12, dModel: 768, heads: 12, dFF: 3072, vocab: 50257, positions: 1024 }),
  "bert-base": () => ({ layers: 12, dModel: 768, heads: 12, dFF: 3072, vocab: 30522, positions: 512 }),
  "pegasus-large": () => ({ layers: 16, decoderLayers: 16, dModel: 1024, heads: 16, dFF: 4096, vocab: 96103, positions: 1024 }),
};

export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** The preset's sizes with overrides applied, checked. */
export function resolveSizes(options: BuildOptions): ArchitectureConfig {
  const preset = options.preset ?? "tiny";
  const make = PRESETS[preset];
  if (!make) throw new Error(`unknown preset ${JSON.stringify(preset)}; expected one of ${PRESET_NAMES.join(", ")}`);
  const sizes = { ...make(options.family), ...definedOnly(options.sizes ?? {}) };
  for (const key of ["layers", "dModel", "heads", "dFF", "vocab", "positions"] as const) {
    if (!Number.isSafeInteger(sizes[key]) || sizes[key] < 1) throw new Error(`sizes.${key} must be a positive integer, got ${sizes[key]}`);
  }
  if (sizes.decoderLayers !== undefined && (!Number.isSafeInteger(sizes.decoderLayers) || sizes.decoderLayers < 1)) {
    throw new Error(`sizes.decoderLayers must be a positive integer, got ${sizes.decoderLayers}`);
  }
  if (sizes.dModel % sizes.heads !== 0) throw new Error(`sizes.dModel (${sizes.dModel}) must be a multiple of sizes.heads (${sizes.heads})`);
  return sizes;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Parameters of the base model as torch counts them (GPT2Model; BertModel with its pooler;
 * PegasusModel with both sinusoidal tables), from shapes alone.
 */
export function parameterCount(family: Family, sizes: ArchitectureConfig): number {
  const { dModel: d, dFF: ff, vocab: v, positions: p, layers } = sizes;
  const linear = (i: number, o: number) => i * o + o;
  const norm = 2 * d;
  const mlp = linear(d, ff) + linear(ff, d);
  switch (family) {
    case "decoder":
      return v * d + p * d + layers * (norm + linear(d, 3 * d) + linear(d, d) + norm + mlp) + norm;
    case "encoder":
      return v * d + p * d + 2 * d + norm + layers * (4 * linear(d, d) + 2 * norm + mlp) + linear(d, d);
    case "encoder-decoder": {
      const dec = sizes.decoderLayers ?? layers;
      return v * d + 2 * p * d + layers * (4 * linear(d, d) + 2 * norm + mlp) + norm + dec * (8 * linear(d, d) + 3 * norm + mlp) + norm;
    }
  }
}

/**
 * Parameters the LM head adds on top of the base model (tied matrices not counted again): none
 * for GPT-2; BERT's MLM transform, its norm and the decoder bias; Pegasus's final_logits_bias.
 */
export function headParameterCount(family: Family, sizes: ArchitectureConfig): number {
  const { dModel: d, vocab: v } = sizes;
  if (family === "encoder") return d * d + d + 2 * d + v;
  if (family === "encoder-decoder") return v;
  return 0;
}
