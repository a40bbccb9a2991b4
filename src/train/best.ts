/**
 * The weights of the lowest validation loss seen, the start included: fine-tuning that only
 * makes a model worse on held-out text gives back the model it started from.
 */
export interface Scored {
  step: number;
  loss: number;
}

export class BestWeights<V extends Scored> {
  private values: Float32Array[];
  private constructor(
    public best: V,
    states: { value: Float32Array }[],
  ) {
    this.values = states.map((s) => Float32Array.from(s.value));
  }

  /** Starts from the weights as they are now, scored by `current`. */
  static from<V extends Scored>(current: V, states: { value: Float32Array }[]): BestWeights<V> {
    return new BestWeights(current, states);
  }

  /** Keeps a copy of the weights when `v` beats the best so far; true when it did. */
  offer(v: V, states: { value: Float32Array }[]): boolean {
    if (!(v.loss < this.best.loss)) return false;
    this.best = v;
    states.forEach((s, k) => this.values[k].set(s.value));
    return true;
  }

  /** Puts the best weights back unless the current ones (scored `last`) are the best. */
  restore(last: V, states: { value: Float32Array }[]): void {
    if (last === this.best) return;
    states.forEach((s, k) => s.value.set(this.values[k]));
  }
}
