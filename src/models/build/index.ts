import { mkdirSync } from "node:fs";
import path from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, type TensorProto } from "onnx-buf";
import type { OnnxModel } from "../../onnx/model.ts";
import { DataLocation, externalDataEntries } from "../../onnx/tensor.ts";
import { EXTERNAL_DATA_ALIGNMENT, writeModel } from "../../onnx/write.ts";
import { writeAllAt, writeAtomicWith, writeFileAtomic } from "../../util/atomic.ts";
import type { Family } from "../types.ts";
import { buildBert } from "./bert.ts";
import { resolveSizes, type ArchitectureConfig, type BuildOptions } from "./config.ts";
import { buildGpt2 } from "./gpt2.ts";
import type { GraphBuilder, WeightSpec } from "./graph-builder.ts";
import { buildPegasus } from "./pegasus.ts";
import { generateWeight, tensorOf } from "./weights.ts";

export * from "./config.ts";

const BUILDERS: Record<Family, (s: ArchitectureConfig, options: BuildOptions) => GraphBuilder> = {
  decoder: buildGpt2,
  encoder: buildBert,
  "encoder-decoder": buildPegasus,
};
const ARCHITECTURE: Record<Family, string> = { decoder: "GPT-2", encoder: "BERT (masked LM)", "encoder-decoder": "Pegasus" };

/** Weights above this go to external data in "auto" mode, so a full-size preset is streamed, never held. */
const AUTO_EXTERNAL_BYTES = 256 * 2 ** 20;

function plan(options: BuildOptions) {
  if (!(options.family in BUILDERS)) throw new Error(`unknown family ${JSON.stringify(options.family)}; expected decoder, encoder or encoder-decoder`);
  const sizes = resolveSizes(options);
  if (options.kvCache && options.family !== "decoder") throw new Error(`kvCache: only the decoder family is built with a KV cache, not ${options.family}`);
  const builder = BUILDERS[options.family](sizes, options);
  const seed = options.seed ?? 0;
  const specs = new Map(builder.weights.map((w) => [w.name, w]));
  const doc = `${ARCHITECTURE[options.family]} built by prunebench: preset ${options.preset ?? "tiny"}, sizes ${JSON.stringify(sizes)}, seed ${seed}, random weights`;
  return { sizes, builder, seed, specs, doc };
}

/** Builds a model in memory, weights inline (for sizes that fit comfortably). */
export function buildModel(options: BuildOptions): OnnxModel {
  const { builder, seed, specs, doc } = plan(options);
  const initializer = builder.weights.map((w) => tensorOf(w, { rawData: generateWeight(w, seed, specs) }));
  const label = `<built ${options.family} ${options.preset ?? "tiny"}>`;
  return { file: label, dir: process.cwd(), proto: builder.toModel(initializer, doc) };
}

/**
 * Name, shape and type of each weight a build makes, without making it; `tiedTo` names the
 * weight a tied copy (GPT-2's LM head) is made from, so it trains as that one.
 */
export function builtWeightShapes(options: BuildOptions): Array<{ name: string; dims: number[]; dataType: number; tiedTo?: string }> {
  return plan(options).builder.weights.map((w) => ({ name: w.name, dims: [...w.shape], dataType: w.dataType, ...(w.init.kind === "transposeOf" ? { tiedTo: w.init.source } : {}) }));
}

export function builtWeightBytes(options: BuildOptions): number {
  return plan(options).builder.weights.reduce((sum, w) => sum + weightBytes(w), 0);
}

function weightBytes(w: WeightSpec): number {
  return w.shape.reduce((a, b) => a * b, 1) * (w.dataType === 1 ? 4 : 1);
}

/**
 * Builds and writes a model. With external data each weight is generated, written at its
 * aligned offset and dropped before the next, so memory holds one tensor at a time (two for a
 * tied copy, which is its source transposed), never the whole model.
 */
export interface WrittenModel {
  file: string;
  /** The external data file, when the weights went there. */
  dataFile?: string;
  /** Bytes of all weights (buffers included). */
  weightBytes: number;
}

export function writeBuiltModel(options: BuildOptions & { file: string; externalData?: "auto" | "always" | "never" }): WrittenModel {
  const mode = options.externalData ?? "auto";
  const { builder, seed, specs, doc } = plan(options);
  const total = builder.weights.reduce((sum, w) => sum + weightBytes(w), 0);
  if (mode === "never" || (mode === "auto" && total <= AUTO_EXTERNAL_BYTES)) {
    writeModel(buildModel(options), options.file, { externalData: "never" });
    return { file: path.resolve(options.file), weightBytes: total };
  }
  const file = path.resolve(options.file);
  mkdirSync(path.dirname(file), { recursive: true });
  const location = `${path.basename(file)}.data`;
  const dataFile = path.join(path.dirname(file), location);
  const initializer: TensorProto[] = [];
  writeAtomicWith(dataFile, (fd) => {
    let offset = 0;
    for (const w of builder.weights) {
      const bytes = generateWeight(w, seed, specs);
      if (bytes.byteLength < 1024) {
        initializer.push(tensorOf(w, { rawData: bytes }));
        continue;
      }
      offset = Math.ceil(offset / EXTERNAL_DATA_ALIGNMENT) * EXTERNAL_DATA_ALIGNMENT;
      writeAllAt(fd, bytes, offset);
      initializer.push(
        tensorOf(w, {
          dataLocation: DataLocation.EXTERNAL,
          externalData: externalDataEntries(location, offset, bytes.byteLength),
        }),
      );
      offset += bytes.byteLength;
    }
  });
  writeFileAtomic(file, toBinary(ModelProtoSchema, builder.toModel(initializer, doc)));
  return { file, dataFile, weightBytes: total };
}
