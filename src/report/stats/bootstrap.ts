import { seededRandom } from "../../util/random.ts";
import { sortedMedian, sortedQuantile } from "./describe.ts";

export interface RatioInterval {
  /** median(head) / median(base) of the samples themselves. */
  ratio: number;
  lo: number;
  hi: number;
}

/**
 * Percentile bootstrap interval for the ratio of medians, head over base: each side is
 * resampled with replacement on its own (the samples are independent runs), with a seeded
 * generator so that the same files give the same interval.
 */
export function bootstrapMedianRatio(
  base: ArrayLike<number>,
  head: ArrayLike<number>,
  options: { confidence: number; resamples: number; seed: number },
): RatioInterval {
  const b = Float64Array.from(base as ArrayLike<number>).sort();
  const h = Float64Array.from(head as ArrayLike<number>).sort();
  const ratio = sortedMedian(h) / sortedMedian(b);
  const random = seededRandom(options.seed);
  const ratios = new Float64Array(options.resamples);
  const bufB = new Float64Array(b.length);
  const bufH = new Float64Array(h.length);
  for (let r = 0; r < options.resamples; r++) {
    for (let i = 0; i < b.length; i++) bufB[i] = b[(random() * b.length) | 0];
    for (let i = 0; i < h.length; i++) bufH[i] = h[(random() * h.length) | 0];
    ratios[r] = sortedMedian(bufH.sort()) / sortedMedian(bufB.sort());
  }
  ratios.sort();
  const alpha = 1 - options.confidence;
  return { ratio, lo: sortedQuantile(ratios, alpha / 2), hi: sortedQuantile(ratios, 1 - alpha / 2) };
}
