/**
 * The training loop: fine-tuning a (pruned) model with its masks kept, and training a built
 * model from scratch, are the same function. The result is the original inference graph with
 * updated weights, so evaluation and latency read it unchanged.
 */
import { existsSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { TensorProtoSchema, type TensorProto } from "onnx-buf";
import { findLogitsOutput, IGNORE_INDEX, logitsVocab } from "../eval/loss-graph.ts";
import type { Family } from "../models/types.ts";
import { DataType, isFloatType } from "../onnx/dtype.ts";
import { graphOf, type OnnxModel } from "../onnx/model.ts";
import { readFloat32, setFloatValues } from "../onnx/tensor.ts";
import { randomBatch, sequentialBatches, type BatchOptions, type Example } from "./batches.ts";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import { batchFeeds, emptyPastFeeds, inputTypes, scaleTensor } from "./feeds.ts";
import { trainingView } from "./fp32-view.ts";
import { checkSparsity, type Masks, type SparsityReport } from "./masks.ts";
import { BestWeights } from "./best.ts";
import { learningRate, newParamState, type ParamState, type Schedule } from "./optimizer.ts";
import { GraphAdamW } from "./optimizer-graph.ts";
import { Rng } from "./rng.ts";
import type * as ort from "onnxruntime-node";
import { openSession, Tensor, type SessionOptions } from "../eval/session.ts";
import { transpose2d, type TiedCopy } from "./tied.ts";
import { buildTrainingGraph, type TrainingGraph } from "./training-graph.ts";

export interface TrainOptions {
  model: OnnxModel;
  family: Family;
  /** Training token ids. */
  tokens: ArrayLike<number>;
  /** Validation token ids (default: the last 10% of `tokens`, held out). */
  validTokens?: ArrayLike<number>;
  steps: number;
  lr: number;
  batch: number;
  seqLen: number;
  /** Pruning masks (1 keep, 0 pruned): pruned weights stay exactly zero. */
  masks?: Masks;
  /** Vocabulary size (read from the logits output when left out). */
  vocab?: number;
  /** Masked-LM: the [MASK] id (default vocab - 1). */
  maskToken?: number;
  /** Encoder-decoder: the decoder start id (default 0). */
  decoderStart?: number;
  warmup?: number;
  schedule?: Schedule;
  minLr?: number;
  weightDecay?: number;
  clipNorm?: number;
  /** Micro-batches summed into one step. */
  accumulate?: number;
  evalEvery?: number;
  evalBatches?: number;
  /** Stop after this many validations without improvement, and keep the best weights. */
  patience?: number;
  /**
   * Return the weights of the lowest validation loss, step 0 included (fine-tuning then never
   * leaves a model worse on validation than it came); implied by `patience`.
   */
  keepBest?: boolean;
  seed?: number;
  checkpoint?: { file: string; every?: number };
  /** Stop after this step (the schedule still spans `steps`): splits a long run over jobs, with checkpoint and resume. */
  stopAt?: number;
  /** Resume from `checkpoint.file` when it exists. */
  resume?: boolean;
  trainable?: (name: string) => boolean;
  logits?: string;
  onProgress?: (event: TrainProgress) => void;
  session?: SessionOptions;
}

export type TrainProgress =
  | { kind: "step"; step: number; steps: number; loss: number; lr: number; gradNorm: number; tokensPerSecond: number }
  | { kind: "validation"; step: number; loss: number; perplexity: number }
  | { kind: "checkpoint"; step: number; file: string };

export interface Validation {
  step: number;
  loss: number;
  perplexity: number;
  tokens: number;
}

export interface TrainResult {
  model: OnnxModel;
  steps: number;
  history: { step: number; loss: number; lr: number; gradNorm: number }[];
  validation: Validation[];
  initial: Validation;
  final: Validation;
  stoppedEarly: boolean;
  tokensPerSecond: number;
  /** Where the loop's time went, in wall seconds (the rest of the loop is feeds, checkpoints, progress). */
  profile: { trainGraphSeconds: number; optimizerSeconds: number; validationSeconds: number };
  seconds: number;
  trainable: string[];
  tied: TiedCopy[];
  sparsity?: SparsityReport;
}

/** Trains a model from scratch: the same loop, named for the pipeline's demo models. */
export function trainModel(options: TrainOptions): Promise<TrainResult> {
  return finetune(options);
}

/**
 * Fine-tunes (or trains) `o.model`. Its external weights are read into memory once; the model
 * passed in is otherwise left as it was, and the result is a new model sharing its graph.
 */
export async function finetune(o: TrainOptions): Promise<TrainResult> {
  const started = process.hrtime.bigint();
  const vocab = o.vocab ?? logitsVocab(findLogitsOutput(o.model, o.logits));
  if (!vocab) throw new Error(`${o.model.file}: cannot tell the vocabulary size from the logits output; pass vocab`);
  let train = o.tokens;
  let valid = o.validTokens;
  if (!valid) {
    const cut = Math.floor(o.tokens.length * 0.9);
    const part = (a: number, b?: number): ArrayLike<number> =>
      ArrayBuffer.isView(o.tokens) ? (o.tokens as unknown as Int32Array).subarray(a, b) : (Array.prototype.slice.call(o.tokens, a, b) as number[]);
    valid = part(cut);
    train = part(0, cut);
  }
  const batchOptions: BatchOptions = { family: o.family, seqLen: o.seqLen, vocab, maskToken: o.maskToken, decoderStart: o.decoderStart };
  const rng = new Rng(o.seed ?? 0);
  const accumulate = Math.max(1, o.accumulate ?? 1);

  const sample = randomBatch(train, o.batch, batchOptions, new Rng(1));
  // Training computes in fp32 on plain ops (fp16 widened, fused kernels written out); the
  // tuned weights go back into o.model's own graph and types.
  const view = trainingView(o.model);
  const viewGraph = graphOf(view.model);
  const modelInputs = viewGraph.input.map((i) => i.name).filter((n) => !viewGraph.initializer.some((t) => t.name === n));
  const types = new Map<string, number>(viewGraph.input.map((i) => [i.name, i.type?.value.case === "tensorType" ? i.type.value.value.elemType : DataType.INT64]));
  types.set("labels", DataType.INT64);
  // A plain forward pass of a KV-cache export: every past input empty (length 0).
  const past = emptyPastFeeds(view.model, o.batch);
  const graph = await buildTrainingGraph({
    model: view.model,
    loss: { kind: "lm", family: o.family, logits: o.logits },
    feeds: batchFeeds(sample, [...modelInputs, "labels"], types, past),
    trainable: o.trainable,
    frozen: view.frozen,
    session: o.session,
  });
  const feedTypes = inputTypes(graph.train);
  const trainSession = await openSession(graph.train, o.session);
  const evalSession = await openSession(graph.evaluate, o.session);
  let optimizer: GraphAdamW | undefined;
  const profile: TrainResult["profile"] = { trainGraphSeconds: 0, optimizerSeconds: 0, validationSeconds: 0 };
  const clock = async <T>(part: keyof TrainResult["profile"], run: () => Promise<T>): Promise<T> => {
    const at = process.hrtime.bigint();
    try {
      return await run();
    } finally {
      profile[part] += Number(process.hrtime.bigint() - at) / 1e9;
    }
  };
  try {
    const states = initialStates(view.model, graph, o.masks);
    optimizer = await GraphAdamW.create(states, { weightDecay: o.weightDecay ?? 0.01, clipNorm: o.clipNorm ?? 1, accumulate }, o.session);
    const byName = new Map(states.map((s) => [s.name, s]));
    const paramFeeds = () => Object.fromEntries(graph.params.map((p) => [p.name, tensorOf(byName.get(p.name)!.value, p.dims)]));
    const feedsFor = (examples: Example[], scale: number) => ({ ...batchFeeds(examples, graph.inputs, feedTypes, { ...past, [graph.scale!]: scaleTensor(scale) }), ...paramFeeds() });

    const validationBatches = sequentialBatches(valid, o.batch, o.evalBatches ?? 4, batchOptions, new Rng((o.seed ?? 0) + 1));
    const validate = async (step: number): Promise<Validation> => {
      let sum = 0;
      let count = 0;
      for (const examples of validationBatches) {
        const out = await evalSession.run(feedsFor(examples, 1));
        sum += out[graph.loss].data[0] as number;
        count += scored(examples);
      }
      const loss = sum / count;
      return { step, loss, perplexity: Math.exp(loss), tokens: count };
    };

    let start = 0;
    let history: TrainResult["history"] = [];
    let validation: Validation[] = [];
    if (o.resume && o.checkpoint && existsSync(o.checkpoint.file)) {
      const header = loadCheckpoint(o.checkpoint.file, states);
      start = header.step;
      rng.state = header.rng;
      history = (header.state.history as TrainResult["history"]) ?? [];
      validation = (header.state.validation as Validation[]) ?? [];
    }
    const initial = validation[0] ?? (await validate(start));
    if (validation.length === 0) validation.push(initial);
    o.onProgress?.({ kind: "validation", step: start, loss: initial.loss, perplexity: initial.perplexity });

    // After a resume the weights of an earlier best are gone: the resumed weights start the count.
    const latest = validation[validation.length - 1];
    const keeper = o.patience || o.keepBest ? BestWeights.from(latest.step === start ? latest : await validate(start), states) : undefined;
    let best = keeper?.best ?? validation.reduce((a, b) => (b.loss < a.loss ? b : a));
    let sinceBest = 0;
    let stoppedEarly = false;
    let trainedTokens = 0;
    const loopStart = process.hrtime.bigint();
    const warmup = o.warmup ?? Math.floor(o.steps * 0.05);
    const evalEvery = o.evalEvery ?? Math.max(1, Math.floor(o.steps / 5));
    let step = start;
    const end = Math.min(o.steps, o.stopAt ?? o.steps);
    for (; step < end; step++) {
      // Micro-batch gradients go to the optimizer graph as they came out (it sums them).
      const grads: ort.Tensor[][] = [];
      let loss = 0;
      for (let micro = 0; micro < accumulate; micro++) {
        const examples = randomBatch(train, o.batch, batchOptions, rng);
        const feeds = feedsFor(examples, 1 / (scored(examples) * accumulate));
        const out = await clock("trainGraphSeconds", () => trainSession.run(feeds));
        loss += out[graph.loss].data[0] as number;
        grads.push(graph.params.map((p) => out[p.grad]));
        trainedTokens += examples.length * o.seqLen;
      }
      const lr = learningRate(step, { lr: o.lr, steps: o.steps, warmup, schedule: o.schedule ?? "linear", minLr: o.minLr });
      const gradNorm = await clock("optimizerSeconds", () => optimizer!.step(grads, lr, step + 1));
      history.push({ step: step + 1, loss, lr, gradNorm });
      const seconds = Number(process.hrtime.bigint() - loopStart) / 1e9;
      o.onProgress?.({ kind: "step", step: step + 1, steps: o.steps, loss, lr, gradNorm, tokensPerSecond: trainedTokens / seconds });
      const last = step + 1 === end;
      if ((step + 1) % evalEvery === 0 || last) {
        const v = await clock("validationSeconds", () => validate(step + 1));
        validation.push(v);
        o.onProgress?.({ kind: "validation", step: v.step, loss: v.loss, perplexity: v.perplexity });
        if (keeper ? keeper.offer(v, states) : v.loss < best.loss) {
          best = v;
          sinceBest = 0;
        } else if (o.patience && ++sinceBest >= o.patience) {
          stoppedEarly = true;
        }
      }
      if (o.checkpoint && ((o.checkpoint.every && (step + 1) % o.checkpoint.every === 0) || last || stoppedEarly)) {
        saveCheckpoint(o.checkpoint.file, { step: step + 1, rng: rng.state, state: { history, validation } }, states);
        o.onProgress?.({ kind: "checkpoint", step: step + 1, file: o.checkpoint.file });
      }
      if (stoppedEarly) {
        step++;
        break;
      }
    }
    keeper?.restore(validation[validation.length - 1], states);
    const final = keeper ? keeper.best : validation[validation.length - 1];
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const loopSeconds = Number(process.hrtime.bigint() - loopStart) / 1e9;
    const values = new Map(states.map((s) => [s.name, s.value]));
    const tuned = withWeights(o.model, values, graph.tied);
    return {
      model: tuned,
      steps: step,
      history,
      validation,
      initial,
      final,
      stoppedEarly,
      tokensPerSecond: loopSeconds > 0 ? trainedTokens / loopSeconds : 0,
      profile,
      seconds,
      trainable: graph.params.map((p) => p.name),
      tied: graph.tied,
      sparsity: o.masks ? checkSparsity(floatValues(tuned, [...o.masks.keys()]), o.masks) : undefined,
    };
  } finally {
    await trainSession.release();
    await evalSession.release();
    await optimizer?.release();
  }
}

function scored(examples: Example[]): number {
  let n = 0;
  for (const e of examples) for (const l of e.labels) if (l !== IGNORE_INDEX) n++;
  return n;
}

function tensorOf(data: Float32Array, dims: number[]): ort.Tensor {
  return new Tensor("float32", data, dims);
}

/** Values of named float initializers (fp32, fp16, bf16), as written in the output model, in fp32. */
export function floatValues(model: OnnxModel, names: string[]): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const t of graphOf(model).initializer) if (names.includes(t.name) && isFloatType(t.dataType)) out.set(t.name, readFloat32(model, t).data);
  return out;
}

function initialStates(model: OnnxModel, graph: TrainingGraph, masks?: Masks): ParamState[] {
  const inits = new Map(graphOf(model).initializer.map((t) => [t.name, t]));
  const own = new Map<string, Uint8Array>();
  for (const [name, mask] of masks ?? []) {
    const tie = graph.tied.find((t) => t.copy === name);
    const target = tie ? tie.of : name;
    const dims = inits.get(target)?.dims.map(Number);
    if (!dims) throw new Error(`${model.file}: the mask names ${JSON.stringify(name)}, which is not an initializer of the model`);
    let m = mask;
    if (tie?.transposed) m = Uint8Array.from(transpose2d(Float32Array.from(mask), dims[1], dims[0]));
    const count = dims.reduce((a, b) => a * b, 1);
    if (m.length !== count) throw new Error(`${model.file}: the mask for ${JSON.stringify(name)} has ${m.length} entries; the weight has ${count}`);
    const prev = own.get(target);
    own.set(target, prev ? prev.map((v, i) => v & m[i]) : m);
  }
  const trained = new Set(graph.params.map((p) => p.name));
  for (const name of own.keys()) {
    if (!trained.has(name)) throw new Error(`${model.file}: the mask names ${JSON.stringify(name)}, which is not trained (frozen, or it does not reach the loss)`);
  }
  return graph.params.map((p) => newParamState(p.name, Float32Array.from(readFloat32(model, inits.get(p.name)!).data), p.dims.length >= 2, own.get(p.name)));
}

/**
 * The inference model with new weights (tied copies rewritten from their originals), each in
 * its own type (fp16 weights trained in fp32 are rounded back to fp16); the input model is not
 * modified.
 */
export function withWeights(model: OnnxModel, values: Map<string, Float32Array>, tied: TiedCopy[]): OnnxModel {
  const graph = graphOf(model);
  const replaced = (t: TensorProto, data: Float32Array<ArrayBuffer>) => {
    const out = create(TensorProtoSchema, { name: t.name, dims: t.dims, dataType: t.dataType });
    setFloatValues(out, data);
    return out;
  };
  const initializer = graph.initializer.map((t) => {
    const v = values.get(t.name);
    if (v) return replaced(t, Float32Array.from(v));
    const tie = tied.find((c) => c.copy === t.name);
    const src = tie && values.get(tie.of);
    if (tie && src) {
      const [r, c] = graph.initializer.find((x) => x.name === tie.of)!.dims.map(Number);
      return replaced(t, tie.transposed ? transpose2d(src, r, c) : Float32Array.from(src));
    }
    return t;
  });
  return { ...model, proto: { ...model.proto, graph: { ...graph, initializer } } };
}
