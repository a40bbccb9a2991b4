/**
 * Gradient check against central finite differences. Per trainable tensor it compares the
 * directional derivative g.d along two unit directions d, the analytic gradient itself (over
 * the whole tensor) and a random Gaussian direction on a random subset of coordinates plus the
 * largest-gradient one, with (L(w + eps d) - L(w - eps d)) / 2 eps from the forward-only graph.
 * In fp32 the loss is only known to an ulp or two, so a difference quotient cannot resolve
 * derivatives below about ulp(L) / eps; errors are measured against at least 100 times that.
 */
import type { TrainingGraph } from "./training-graph.ts";
import type * as ort from "onnxruntime-node";
import { openSession, Tensor, type SessionOptions } from "../eval/session.ts";
import { Rng } from "./rng.ts";

export interface GradCheckOptions {
  graph: TrainingGraph;
  feeds: Record<string, ort.Tensor>;
  params: Map<string, Float32Array>;
  eps?: number;
  /** Coordinates sampled per tensor (plus its largest-gradient coordinate). */
  coordinates?: number;
  seed?: number;
  session?: SessionOptions;
}

export interface GradCheckResult {
  name: string;
  /** Worst relative error of the two directions. */
  relError: number;
  analytic: number[];
  numeric: number[];
  gradNorm: number;
}

export async function gradCheck(options: GradCheckOptions): Promise<GradCheckResult[]> {
  const { graph, feeds } = options;
  const eps = options.eps ?? 1e-2;
  const k = options.coordinates ?? 16;
  const rng = new Rng(options.seed ?? 0);
  const train = await openSession(graph.train, options.session);
  const evaluate = await openSession(graph.evaluate, options.session);
  try {
    const paramFeeds = () => Object.fromEntries(graph.params.map((p) => [p.name, new Tensor("float32", options.params.get(p.name)!, p.dims)]));
    const out = await train.run({ ...feeds, ...paramFeeds() });
    const lossAt = async () => (await evaluate.run({ ...feeds, ...paramFeeds() }))[graph.loss].data[0] as number;
    const base = await lossAt();
    const floor = (100 * Math.abs(base) * 2 ** -23) / eps;
    const results: GradCheckResult[] = [];
    for (const p of graph.params) {
      const g = out[p.grad].data as Float32Array;
      const w = options.params.get(p.name)!;
      const chosen = new Set<number>();
      let top = 0;
      for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[top])) top = i;
      chosen.add(top);
      while (chosen.size < Math.min(k + 1, g.length)) chosen.add(rng.int(g.length));
      const idx = [...chosen];
      let sq = 0;
      for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
      const gNorm = Math.sqrt(sq);
      const all = Array.from({ length: g.length }, (_, i) => i);
      const along = all.map((i) => (gNorm > 0 ? g[i] / gNorm : 0));
      const gauss = idx.map(() => rng.normal());
      const gaussNorm = Math.hypot(...gauss);
      const directions: [number[], number[]][] = [
        [all, along],
        [idx, gauss.map((v) => v / gaussNorm)],
      ];
      const analytic: number[] = [];
      const numeric: number[] = [];
      let relError = 0;
      for (const [idx, d] of directions) {
        const saved = idx.map((i) => w[i]);
        idx.forEach((i, j) => (w[i] = saved[j] + eps * d[j]));
        const plus = await lossAt();
        idx.forEach((i, j) => (w[i] = saved[j] - eps * d[j]));
        const minus = await lossAt();
        idx.forEach((i, j) => (w[i] = saved[j]));
        const fd = (plus - minus) / (2 * eps);
        const an = idx.reduce((s, i, j) => s + g[i] * d[j], 0);
        analytic.push(an);
        numeric.push(fd);
        const denom = Math.max(Math.abs(an), Math.abs(fd), floor);
        relError = Math.max(relError, Math.abs(an - fd) / denom);
      }
      results.push({ name: p.name, relError, analytic, numeric, gradNorm: gNorm });
    }
    return results;
  } finally {
    await train.release();
    await evaluate.release();
  }
}
