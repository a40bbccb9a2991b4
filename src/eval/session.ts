/**
 * Inference sessions from in-memory models, on the CPU or CUDA execution provider.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema } from "onnx-buf";
import * as ort from "onnxruntime-node";
import { graphOf, type OnnxModel } from "../onnx/model.ts";
import { elementBytes } from "../onnx/dtype.ts";
import { OnnxFormatError } from "../onnx/errors.ts";
import { MAX_INLINE_MODEL_BYTES } from "../onnx/model.ts";
import { DataLocation, elementCount, externalDataRef, isExternal, tensorBytes, tensorShape } from "../onnx/tensor.ts";

export type Provider = "cpu" | "cuda";

export interface SessionOptions {
  provider?: Provider;
  /** intraOpNumThreads; 0 or undefined lets onnxruntime choose (one per physical core). */
  threads?: number;
}

export interface CreatedSession {
  session: ort.InferenceSession;
  /** The provider actually used (cuda falls back to cpu with `warning` set). */
  provider: Provider;
  warning?: string;
  /** Wall time of InferenceSession.create, ms. */
  createMs: number;
}

const require = createRequire(import.meta.url);

/**
 * Whether this onnxruntime-node install can run the CUDA provider: the npm package ships the
 * CPU provider only; the CUDA provider library is fetched at install time (ONNXRUNTIME_NODE_INSTALL
 * / install_cuda) and needs an NVIDIA driver. Returns a reason when it cannot.
 */
export function cudaUnavailableReason(): string | null {
  const pkgDir = path.dirname(require.resolve("onnxruntime-node/package.json"));
  const binDir = path.join(pkgDir, "bin");
  const found = existsSync(binDir) && findFile(binDir, "libonnxruntime_providers_cuda.so");
  if (!found) {
    return `onnxruntime-node at ${pkgDir} has no CUDA provider library (libonnxruntime_providers_cuda.so); install it with ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node on a machine with CUDA 12`;
  }
  return null;
}

function findFile(dir: string, name: string): boolean {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory() ? findFile(path.join(dir, entry.name), name) : entry.name === name) return true;
  }
  return false;
}

function providerOptions(provider: Provider, threads?: number): ort.InferenceSession.SessionOptions {
  return {
    logSeverityLevel: 3,
    executionProviders: provider === "cuda" ? ["cuda", "cpu"] : ["cpu"],
    ...(threads ? { intraOpNumThreads: threads } : {}),
    graphOptimizationLevel: "all",
  };
}

/**
 * Creates a session for a model held in memory (a loss-graph copy, a pruned model). A model
 * with external data has its graph written to a temporary file beside its data, because
 * onnxruntime resolves external data against the model file's folder, and a model given as
 * bytes has none; where that folder is read-only, the weights are loaded inline instead.
 */
export async function createSession(model: OnnxModel, options: SessionOptions = {}): Promise<CreatedSession> {
  let provider: Provider = options.provider ?? "cpu";
  let warning: string | undefined;
  if (provider === "cuda") {
    const reason = cudaUnavailableReason();
    if (reason) {
      warning = `cuda provider unavailable, running on cpu: ${reason}`;
      provider = "cpu";
    }
  }
  const bytes = () => toBinary(ModelProtoSchema, model.proto);
  const external = graphOf(model).initializer.filter(isExternal);
  // The same checks as every read (no location leaving the model's folder, bytes in bounds),
  // before onnxruntime is pointed at the files.
  for (const t of external) externalDataRef(model, t, elementCount(tensorShape(model, t)) * (elementBytes(t.dataType) ?? 0));
  const start = performance.now();
  let session: ort.InferenceSession;
  const create = async (p: Provider) => {
    if (!external.length) return ort.InferenceSession.create(bytes(), providerOptions(p, options.threads));
    // onnxruntime refuses external data outside the model file's folder (links resolved), so the
    // graph goes beside the data when that folder is writable, and inline otherwise.
    const beside = path.join(model.dir, `.prunebench-${process.pid}-${randomBytes(4).toString("hex")}.onnx`);
    try {
      writeFileSync(beside, bytes());
    } catch {
      return ort.InferenceSession.create(inlineBytes(model), providerOptions(p, options.threads));
    }
    try {
      return await ort.InferenceSession.create(beside, providerOptions(p, options.threads));
    } finally {
      rmSync(beside, { force: true });
    }
  };
  try {
    session = await create(provider);
  } catch (error) {
    if (provider !== "cuda") throw error;
    warning = `cuda provider failed, running on cpu: ${(error as Error).message.split("\n")[0]}`;
    provider = "cpu";
    session = await create(provider);
  }
  return { session, provider, warning, createMs: performance.now() - start };
}

/** The model serialized with every external tensor read inline (for read-only model folders). */
function inlineBytes(model: OnnxModel): Uint8Array {
  const graph = graphOf(model);
  const total = graph.initializer.reduce((sum, t) => sum + (isExternal(t) ? elementCount(tensorShape(model, t)) * (elementBytes(t.dataType) ?? 0) : t.rawData.length), 0);
  if (total > MAX_INLINE_MODEL_BYTES * 0.9) {
    throw new OnnxFormatError(model.file, "external data", `the model's folder is read-only and its ${total} weight bytes are too many to load inline; copy the model to a writable folder`);
  }
  const initializer = graph.initializer.map((t) =>
    isExternal(t) ? { ...t, rawData: tensorBytes(model, t), externalData: [], dataLocation: DataLocation.DEFAULT } : t,
  );
  return toBinary(ModelProtoSchema, { ...model.proto, graph: { ...graph, initializer } });
}
