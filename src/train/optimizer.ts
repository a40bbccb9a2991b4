/**
 * AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2019: the decay is
 * applied to the weights directly, not through the gradient) on Float32Arrays, with clipping
 * by global norm and pruning masks re-applied after every step, so a pruned weight is exactly
 * 0 whatever the update would have been. The training loop runs the same update as an ONNX
 * graph (./optimizer-graph.ts); adamwStep is its reference, and the tests hold the two equal.
 */
export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Clip the global gradient norm to this (0 or undefined: no clipping). */
  clipNorm?: number;
}

export interface ParamState {
  name: string;
  value: Float32Array;
  m: Float32Array;
  v: Float32Array;
  /** 1 = trained, 0 = pruned (kept at exactly zero). */
  mask?: Uint8Array;
  /** Decoupled weight decay applies (matrices; not biases or norms). */
  decay: boolean;
}

export function newParamState(name: string, value: Float32Array, decay: boolean, mask?: Uint8Array): ParamState {
  const state: ParamState = { name, value, m: new Float32Array(value.length), v: new Float32Array(value.length), decay, mask };
  applyMask(state);
  return state;
}

export function applyMask(state: ParamState): void {
  const { mask, value } = state;
  if (!mask) return;
  for (let i = 0; i < value.length; i++) if (!mask[i]) value[i] = 0;
}

/** Global L2 norm of the gradients (masked coordinates excluded), in float64. */
export function globalNorm(states: ParamState[], grads: Float32Array[]): number {
  let sum = 0;
  states.forEach((s, k) => {
    const g = grads[k];
    const mask = s.mask;
    for (let i = 0; i < g.length; i++) if (!mask || mask[i]) sum += g[i] * g[i];
  });
  return Math.sqrt(sum);
}

/** One AdamW step at learning rate `lr`; `t` is the 1-based step count for bias correction. Returns the gradient norm before clipping. */
export function adamwStep(states: ParamState[], grads: Float32Array[], lr: number, t: number, options: AdamWOptions = {}): number {
  const b1 = options.beta1 ?? 0.9;
  const b2 = options.beta2 ?? 0.999;
  const eps = options.eps ?? 1e-8;
  const wd = options.weightDecay ?? 0;
  const norm = globalNorm(states, grads);
  const clip = options.clipNorm && norm > options.clipNorm ? options.clipNorm / norm : 1;
  const c1 = 1 - b1 ** t;
  const c2 = 1 - b2 ** t;
  states.forEach((s, k) => {
    const g = grads[k];
    const { value: w, m, v, mask } = s;
    const decay = s.decay ? lr * wd : 0;
    for (let i = 0; i < w.length; i++) {
      if (mask && !mask[i]) {
        w[i] = 0;
        continue;
      }
      const gi = g[i] * clip;
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      w[i] -= lr * (m[i] / c1 / (Math.sqrt(v[i] / c2) + eps)) + decay * w[i];
    }
  });
  return norm;
}

export type Schedule = "constant" | "linear" | "cosine";

/** Linear warm-up to `lr`, then constant, linear or cosine decay to `minLr` at `steps`. */
export function learningRate(step: number, o: { lr: number; steps: number; warmup: number; schedule: Schedule; minLr?: number }): number {
  const min = o.minLr ?? 0;
  if (o.warmup > 0 && step < o.warmup) return (o.lr * (step + 1)) / o.warmup;
  if (o.schedule === "constant") return o.lr;
  const span = Math.max(1, o.steps - o.warmup);
  const p = Math.min(1, (step - o.warmup) / span);
  if (o.schedule === "linear") return min + (o.lr - min) * (1 - p);
  return min + ((o.lr - min) * (1 + Math.cos(Math.PI * p))) / 2;
}
