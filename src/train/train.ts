/**
 * The training loop: fine-tuning a (pruned) model with its masks kept, and training a built
 * model from scratch, are the same function. The result is the original inference graph with
 * updated weights, so evaluation and latency read it unchanged.
 */
import { existsSync } from "node:fs";
import { FINETUNE_DEFAULTS, warmupSteps } from "../config/schema.ts";
import { findLogitsOutput, IGNORE_INDEX, logitsVocab } from "../eval/loss-graph.ts";
import type { Family } from "../models/types.ts";
import { DataType } from "../onnx/dtype.ts";
import { graphOf, type OnnxModel } from "../onnx/model.ts";
import { randomBatch, sequentialBatches, type BatchOptions, type Example } from "./batches.ts";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import { batchFeeds, emptyPastFeeds, inputTypes, scaleTensor } from "./feeds.ts";
import { trainingView } from "./fp32-view.ts";
import { checkSparsity, type Masks, type SparsityReport } from "./masks.ts";
import { BestWeights } from "./best.ts";
import { learningRate, type ParamState, type Schedule } from "./optimizer.ts";
import { GraphAdamW } from "./optimizer-graph.ts";
import { Rng } from "./rng.ts";
import type * as ort from "onnxruntime-node";
import { openSession, Tensor, type SessionOptions } from "../eval/session.ts";
import type { TiedCopy } from "./tied.ts";
import { floatValues, initialStates, withWeights } from "./weights.ts";
import { buildTrainingGraph, type TrainingGraph } from "./training-graph.ts";

export { floatValues, withWeights };

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
  /**
   * The recipe below defaults to the config schema's (FINETUNE_DEFAULTS, src/config/schema.ts):
   * warm-up steps (default 5% of `steps`), schedule, decoupled weight decay, gradient-norm clip.
   */
  warmup?: number;
  schedule?: Schedule;
  minLr?: number;
  weightDecay?: number;
  clipNorm?: number;
  /** Micro-batches summed into one step. */
  accumulate?: number;
  /** Validate every this many steps (default steps / 5). */
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

/** The recipe with every default filled in: the config schema's (FINETUNE_DEFAULTS), nowhere else. */
interface Recipe {
  warmup: number;
  schedule: Schedule;
  weightDecay: number;
  clipNorm: number;
  accumulate: number;
  evalEvery: number;
  evalBatches: number;
  seed: number;
  /** The last step this call takes (`stopAt`, or `steps`). */
  end: number;
}

function recipeOf(o: TrainOptions): Recipe {
  const d = FINETUNE_DEFAULTS;
  return {
    warmup: o.warmup ?? warmupSteps(d.warmup, o.steps),
    schedule: o.schedule ?? d.schedule,
    weightDecay: o.weightDecay ?? d.weight_decay,
    clipNorm: o.clipNorm ?? d.clip,
    accumulate: Math.max(1, o.accumulate ?? d.accumulate),
    evalEvery: o.evalEvery ?? Math.max(1, Math.floor(o.steps / 5)),
    evalBatches: o.evalBatches ?? d.eval_batches,
    seed: o.seed ?? d.seed,
    end: Math.min(o.steps, o.stopAt ?? o.steps),
  };
}

/** What the loop carries from step to step; history and validation go into checkpoints. */
interface LoopState {
  /** Steps done. */
  step: number;
  history: TrainResult["history"];
  validation: Validation[];
  initial: Validation;
  best: Validation;
  sinceBest: number;
  stoppedEarly: boolean;
  trainedTokens: number;
  /** The weights of the lowest validation loss (with keepBest or patience). */
  keeper?: BestWeights<Validation>;
}

/** The sessions, weights and data one fine-tune runs on, built once. */
interface Engine {
  graph: TrainingGraph;
  trainSession: ort.InferenceSession;
  evalSession: ort.InferenceSession;
  optimizer: GraphAdamW;
  states: ParamState[];
  train: ArrayLike<number>;
  batchOptions: BatchOptions;
  rng: Rng;
  feedsFor: (examples: Example[], scale: number) => Record<string, ort.Tensor>;
  validate: (step: number) => Promise<Validation>;
  clock: <T>(part: keyof TrainResult["profile"], run: () => Promise<T>) => Promise<T>;
  profile: TrainResult["profile"];
}

/**
 * Fine-tunes (or trains) `o.model`. Its external weights are read into memory once; the model
 * passed in is otherwise left as it was, and the result is a new model sharing its graph.
 */
export async function finetune(o: TrainOptions): Promise<TrainResult> {
  const started = process.hrtime.bigint();
  const recipe = recipeOf(o);
  const sessions: { release(): Promise<void> }[] = [];
  try {
    const engine = await buildEngine(o, recipe, sessions);
    const state = await startOrResume(o, engine);
    const loopStart = process.hrtime.bigint();
    while (state.step < recipe.end && !state.stoppedEarly) {
      await trainStep(o, recipe, engine, state, loopStart);
      const last = state.step === recipe.end;
      if (state.step % recipe.evalEvery === 0 || last) await validateAndTrack(o, engine, state);
      if (o.checkpoint && ((o.checkpoint.every && state.step % o.checkpoint.every === 0) || last || state.stoppedEarly)) {
        saveCheckpoint(o.checkpoint.file, { step: state.step, rng: engine.rng.state, state: { history: state.history, validation: state.validation } }, engine.states);
        o.onProgress?.({ kind: "checkpoint", step: state.step, file: o.checkpoint.file });
      }
    }
    return finish(o, engine, state, { started, loopStart });
  } finally {
    for (const s of sessions) await s.release();
  }
}

/**
 * Training computes in fp32 on plain ops (fp16 widened, fused kernels written out); the tuned
 * weights go back into o.model's own graph and types. The training and evaluation sessions,
 * the optimizer graph and the validation batches are built here, once; every session made is
 * pushed to `sessions` so the caller releases it whatever fails after.
 */
async function buildEngine(o: TrainOptions, recipe: Recipe, sessions: { release(): Promise<void> }[]): Promise<Engine> {
  const vocab = o.vocab ?? logitsVocab(findLogitsOutput(o.model, o.logits));
  if (!vocab) throw new Error(`${o.model.file}: cannot tell the vocabulary size from the logits output; pass vocab`);
  const { train, valid } = holdOut(o);
  const batchOptions: BatchOptions = { family: o.family, seqLen: o.seqLen, vocab, maskToken: o.maskToken, decoderStart: o.decoderStart };
  const sample = randomBatch(train, o.batch, batchOptions, new Rng(1));
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
  sessions.push(trainSession);
  const evalSession = await openSession(graph.evaluate, o.session);
  sessions.push(evalSession);
  const states = initialStates(view.model, graph, o.masks);
  const optimizer = await GraphAdamW.create(states, { weightDecay: recipe.weightDecay, clipNorm: recipe.clipNorm, accumulate: recipe.accumulate }, o.session);
  sessions.push(optimizer);
  const byName = new Map(states.map((s) => [s.name, s]));
  const paramFeeds = () => Object.fromEntries(graph.params.map((p) => [p.name, tensorOf(byName.get(p.name)!.value, p.dims)]));
  const feedsFor = (examples: Example[], scale: number) => ({ ...batchFeeds(examples, graph.inputs, feedTypes, { ...past, [graph.scale!]: scaleTensor(scale) }), ...paramFeeds() });
  const validationBatches = sequentialBatches(valid, o.batch, recipe.evalBatches, batchOptions, new Rng(recipe.seed + 1));
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
  const profile: TrainResult["profile"] = { trainGraphSeconds: 0, optimizerSeconds: 0, validationSeconds: 0 };
  const clock = async <T>(part: keyof TrainResult["profile"], run: () => Promise<T>): Promise<T> => {
    const at = process.hrtime.bigint();
    try {
      return await run();
    } finally {
      profile[part] += Number(process.hrtime.bigint() - at) / 1e9;
    }
  };
  return { graph, trainSession, evalSession, optimizer, states, train, batchOptions, rng: new Rng(recipe.seed), feedsFor, validate, clock, profile };
}

/** Validation token ids: `o.validTokens`, or the last 10% of `o.tokens`, held out from training. */
function holdOut(o: TrainOptions): { train: ArrayLike<number>; valid: ArrayLike<number> } {
  if (o.validTokens) return { train: o.tokens, valid: o.validTokens };
  const cut = Math.floor(o.tokens.length * 0.9);
  const part = (a: number, b?: number): ArrayLike<number> =>
    ArrayBuffer.isView(o.tokens) ? (o.tokens as unknown as Int32Array).subarray(a, b) : (Array.prototype.slice.call(o.tokens, a, b) as number[]);
  return { train: part(0, cut), valid: part(cut) };
}

/** The loop's state at step 0 (validated), or read back from `o.checkpoint` with `o.resume`. */
async function startOrResume(o: TrainOptions, engine: Engine): Promise<LoopState> {
  let start = 0;
  let history: TrainResult["history"] = [];
  let validation: Validation[] = [];
  if (o.resume && o.checkpoint && existsSync(o.checkpoint.file)) {
    const header = loadCheckpoint(o.checkpoint.file, engine.states);
    start = header.step;
    engine.rng.state = header.rng;
    history = (header.state.history as TrainResult["history"]) ?? [];
    validation = (header.state.validation as Validation[]) ?? [];
  }
  const initial = validation[0] ?? (await engine.validate(start));
  if (validation.length === 0) validation.push(initial);
  o.onProgress?.({ kind: "validation", step: start, loss: initial.loss, perplexity: initial.perplexity });

  // After a resume the weights of an earlier best are gone: the resumed weights start the count.
  const latest = validation[validation.length - 1];
  const keeper = o.patience || o.keepBest ? BestWeights.from(latest.step === start ? latest : await engine.validate(start), engine.states) : undefined;
  const best = keeper?.best ?? validation.reduce((a, b) => (b.loss < a.loss ? b : a));
  return { step: start, history, validation, initial, best, sinceBest: 0, stoppedEarly: false, trainedTokens: 0, keeper };
}

/** One optimizer step. Micro-batch gradients go to the optimizer graph as they came out (it sums them). */
async function trainStep(o: TrainOptions, recipe: Recipe, engine: Engine, state: LoopState, loopStart: bigint): Promise<void> {
  const { graph } = engine;
  const grads: ort.Tensor[][] = [];
  let loss = 0;
  for (let micro = 0; micro < recipe.accumulate; micro++) {
    const examples = randomBatch(engine.train, o.batch, engine.batchOptions, engine.rng);
    const feeds = engine.feedsFor(examples, 1 / (scored(examples) * recipe.accumulate));
    const out = await engine.clock("trainGraphSeconds", () => engine.trainSession.run(feeds));
    loss += out[graph.loss].data[0] as number;
    grads.push(graph.params.map((p) => out[p.grad]));
    state.trainedTokens += examples.length * o.seqLen;
  }
  const lr = learningRate(state.step, { lr: o.lr, steps: o.steps, warmup: recipe.warmup, schedule: recipe.schedule, minLr: o.minLr });
  const gradNorm = await engine.clock("optimizerSeconds", () => engine.optimizer.step(grads, lr, state.step + 1));
  state.step++;
  state.history.push({ step: state.step, loss, lr, gradNorm });
  const seconds = Number(process.hrtime.bigint() - loopStart) / 1e9;
  o.onProgress?.({ kind: "step", step: state.step, steps: o.steps, loss, lr, gradNorm, tokensPerSecond: state.trainedTokens / seconds });
}

/** A validation: the best weights kept, and early stopping after `patience` validations without improvement. */
async function validateAndTrack(o: TrainOptions, engine: Engine, state: LoopState): Promise<void> {
  const v = await engine.clock("validationSeconds", () => engine.validate(state.step));
  state.validation.push(v);
  o.onProgress?.({ kind: "validation", step: v.step, loss: v.loss, perplexity: v.perplexity });
  if (state.keeper ? state.keeper.offer(v, engine.states) : v.loss < state.best.loss) {
    state.best = v;
    state.sinceBest = 0;
  } else if (o.patience && ++state.sinceBest >= o.patience) {
    state.stoppedEarly = true;
  }
}

/** The tuned model (the best weights put back) and what the run measured. */
function finish(o: TrainOptions, engine: Engine, state: LoopState, clocks: { started: bigint; loopStart: bigint }): TrainResult {
  const { keeper, validation } = state;
  keeper?.restore(validation[validation.length - 1], engine.states);
  const final = keeper ? keeper.best : validation[validation.length - 1];
  const seconds = Number(process.hrtime.bigint() - clocks.started) / 1e9;
  const loopSeconds = Number(process.hrtime.bigint() - clocks.loopStart) / 1e9;
  const values = new Map(engine.states.map((s) => [s.name, s.value]));
  const tuned = withWeights(o.model, values, engine.graph.tied);
  return {
    model: tuned,
    steps: state.step,
    history: state.history,
    validation,
    initial: state.initial,
    final,
    stoppedEarly: state.stoppedEarly,
    tokensPerSecond: loopSeconds > 0 ? state.trainedTokens / loopSeconds : 0,
    profile: engine.profile,
    seconds,
    trainable: engine.graph.params.map((p) => p.name),
    tied: engine.graph.tied,
    sparsity: o.masks ? checkSparsity(floatValues(tuned, [...o.masks.keys()]), o.masks) : undefined,
  };
}

function scored(examples: Example[]): number {
  let n = 0;
  for (const e of examples) for (const l of e.labels) if (l !== IGNORE_INDEX) n++;
  return n;
}

function tensorOf(data: Float32Array, dims: number[]): ort.Tensor {
  return new Tensor("float32", data, dims);
}
