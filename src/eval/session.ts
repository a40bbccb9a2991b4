/**
 * The one module that imports onnxruntime-node: every session of the project (evaluation,
 * calibration, SparseGPT's products, the training and AdamW graphs) is created here, on the CPU
 * or CUDA execution provider, with the provider fallback, the thread count and a model's
 * external data handled once. Elsewhere onnxruntime's types come in by `import type`, and
 * tensors are made with the `Tensor` exported here.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, realpathSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, type ModelProto } from "onnx-buf";
import * as ort from "onnxruntime-node";
import { graphOf, type OnnxModel } from "../onnx/model.ts";
import { elementBytes } from "../onnx/dtype.ts";
import { processAlive } from "../util/processes.ts";
import { elementCount, externalDataRef, isExternal, tensorShape } from "../onnx/tensor.ts";

export { Tensor } from "onnxruntime-node";
export type { InferenceSession } from "onnxruntime-node";

export type Provider = "cpu" | "cuda";

export interface SessionOptions {
  provider?: Provider;
  /** intraOpNumThreads; 0 or undefined lets onnxruntime choose (one per physical core). */
  threads?: number;
  /** Graph optimizations, on unless false: the shape run turns them off so every tapped value exists as written. */
  optimize?: boolean;
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
  if (!cudaProviderLibrary()) {
    const pkgDir = path.dirname(require.resolve("onnxruntime-node/package.json"));
    return `onnxruntime-node at ${pkgDir} has no CUDA provider library (libonnxruntime_providers_cuda.so); install it with ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node on a machine with CUDA 12`;
  }
  return null;
}

/** The CUDA provider library beside onnxruntime's own, or null. */
export function cudaProviderLibrary(): string | null {
  const binDir = path.join(path.dirname(require.resolve("onnxruntime-node/package.json")), "bin");
  return existsSync(binDir) ? findFile(binDir, CUDA_PROVIDER_LIBRARY) : null;
}

const CUDA_PROVIDER_LIBRARY = "libonnxruntime_providers_cuda.so";

/**
 * One line saying why a session with the cuda provider could not be created, for the fallback
 * to cpu. onnxruntime says only "Failed to load shared library" when the provider library
 * cannot be loaded (its own log line, on stderr, names the missing dependency), so the
 * dynamic loader is asked again, in a child process, to name it here.
 */
export function cudaFailureReason(error: unknown, options: { library?: string | null; probe?: (library: string) => string | null } = {}): string {
  const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
  const library = /Failed to load shared library/i.test(message) ? (options.library === undefined ? cudaProviderLibrary() : options.library) : null;
  if (library) {
    const why = (options.probe ?? probeLibrary)(library);
    if (why) return `cuda provider unavailable, running on cpu: ${path.basename(library)} cannot be loaded (${why}); put the lib folders of the CUDA and cuDNN versions it was built for on LD_LIBRARY_PATH`;
  }
  // "CUDA failure 100: no CUDA-capable device is detected ; GPU=-1 ; hostname=... ; file=... ; expr=...": the first clause says it.
  const short = message.replace(/^.*?\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*/, "").split(" ; ")[0]!.trim();
  return `cuda provider failed, running on cpu: ${short || message}`;
}

/**
 * The dynamic loader's error for a library's dependencies, or null where they load (Node then
 * refuses the library as an addon, or a symbol that onnxruntime provides is missing).
 */
export function probeLibrary(library: string): string | null {
  const script = `try { process.dlopen({ exports: {} }, ${JSON.stringify(library)}); } catch (e) { process.stdout.write(String(e.message).split("\\n")[0]); }`;
  const child = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 30_000 });
  const out = (child.stdout ?? "").trim();
  if (!out || /did not self-register|undefined symbol/i.test(out)) return null;
  return out.replace(`${library}: `, "");
}

function findFile(dir: string, name: string): string | null {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    const found = entry.isDirectory() ? findFile(full, name) : entry.name === name ? full : null;
    if (found) return found;
  }
  return null;
}

function providerOptions(provider: Provider, options: SessionOptions): ort.InferenceSession.SessionOptions {
  return {
    logSeverityLevel: 3,
    executionProviders: provider === "cuda" ? ["cuda", "cpu"] : ["cpu"],
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    graphOptimizationLevel: options.optimize === false ? "disabled" : "all",
  };
}

/** The onnxruntime version sessions run on (results record it). */
export function onnxruntimeVersion(): string {
  return ort.env.versions.node ?? ort.env.versions.common;
}

function isOnnxModel(model: OnnxModel | ModelProto): model is OnnxModel {
  return "proto" in model && "dir" in model;
}

/**
 * Creates a session for a model held in memory (a loss-graph copy, a pruned model). A model
 * given as bytes has no folder of its own, so for one with external data onnxruntime is told
 * where its data lies (session.model_external_initializers_file_folder_path, onnxruntime 1.19+),
 * and it maps the data files from there: nothing is written anywhere, least of all beside the
 * user's model. Earlier versions wrote the graph to `.prunebench-<pid>-<hex>.onnx` beside
 * the data; a kill -9 could leave one, and the next session for that folder removes those of
 * processes no longer alive (removeStaleSessionFiles). A bare ModelProto (a graph the project
 * built, its weights inline or fed as inputs) has no external data to find.
 */
export async function createSession(model: OnnxModel | ModelProto, options: SessionOptions = {}): Promise<CreatedSession> {
  let provider: Provider = options.provider ?? "cpu";
  let warning: string | undefined;
  if (provider === "cuda") {
    const reason = cudaUnavailableReason();
    if (reason) {
      warning = `cuda provider unavailable, running on cpu: ${reason}`;
      provider = "cpu";
    }
  }
  const bytes = toBinary(ModelProtoSchema, isOnnxModel(model) ? model.proto : model);
  const dataFolder = isOnnxModel(model) ? externalDataFolder(model) : {};
  const start = performance.now();
  let session: ort.InferenceSession;
  const create = (p: Provider) => ort.InferenceSession.create(bytes, { ...providerOptions(p, options), ...dataFolder });
  try {
    session = await create(provider);
  } catch (error) {
    if (provider !== "cuda") throw error;
    warning = cudaFailureReason(error);
    provider = "cpu";
    session = await create(provider);
  }
  return { session, provider, warning, createMs: performance.now() - start };
}

/**
 * Where onnxruntime finds a model's external data (none: {}). The locations get the same checks
 * as every read (no location leaving the model's folder, bytes in bounds) before onnxruntime is
 * pointed at the files; it checks each against this folder with links resolved, as
 * externalDataRef did.
 */
function externalDataFolder(model: OnnxModel): ort.InferenceSession.SessionOptions {
  const external = graphOf(model).initializer.filter(isExternal);
  if (!external.length) return {};
  for (const t of external) externalDataRef(model, t, elementCount(tensorShape(model, t)) * (elementBytes(t.dataType) ?? 0));
  removeStaleSessionFiles(model.dir);
  return { extra: { session: { model_external_initializers_file_folder_path: realpathSync(model.dir) } } };
}

/**
 * A session whose cuda fallback, if any, is said once per process on stderr: for callers whose
 * results carry no warnings (the training and AdamW graphs, SparseGPT's products).
 */
export async function openSession(model: OnnxModel | ModelProto, options: SessionOptions = {}): Promise<ort.InferenceSession> {
  const created = await createSession(model, options);
  if (created.warning && !warned.has(created.warning)) {
    warned.add(created.warning);
    console.error(`warning: ${created.warning}`);
  }
  return created.session;
}

const warned = new Set<string>();

const STALE_SESSION_FILE = /^\.prunebench-(\d+)-[0-9a-f]+\.onnx$/;

/**
 * Removes the graph copies `.prunebench-<pid>-<hex>.onnx` that earlier versions wrote beside
 * a model's external data, where the process that wrote one is gone (killed with -9, so its
 * `finally` never ran); a live process's copy is its own and is left. Returns the files removed.
 */
export function removeStaleSessionFiles(dir: string, alive: (pid: number) => boolean = processAlive): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = STALE_SESSION_FILE.exec(name);
    if (!match || alive(Number(match[1]))) continue;
    try {
      rmSync(path.join(dir, name), { force: true });
      removed.push(path.join(dir, name));
    } catch {
      // A read-only folder keeps its leftover; it harms nothing but space.
    }
  }
  return removed;
}
