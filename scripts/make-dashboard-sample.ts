/**
 * The sample dashboard (reports/sample/dashboard/index.html): a results store of eight
 * synthetic commits made from the demo results in reports/sample/, each perturbed
 * deterministically (the same files on every run), with changes planted where the page
 * should call them:
 *
 *   commit 4  structured pruning's latency on the decoder 15% faster (improvements)
 *   commit 6  SparseGPT's perplexity on the decoder up 6-9% (regressions)
 *   commit 7  structured 50% and Wanda 50% on the encoder 35% slower (regressions)
 *   commit 8  commit 6 reverted (improvements)
 *
 * and a second runner that measured the decoder from commit 5 on. The commit shas are made
 * up (links go to a repository example/models that does not hold them).
 *
 *   node --import tsx scripts/make-dashboard-sample.ts [--store DIR] [--out DIR]
 */
import { createHash } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "../src/util/atomic.ts";
import { seededRandom } from "../src/util/random.ts";
import { median, sortedQuantile } from "../src/report/stats/describe.ts";
import { DEFAULT_THRESHOLDS } from "../src/report/options.ts";
import { DirStore } from "../src/github/store/dir.ts";
import { buildDashboard, parseRepo, readCommitsFile, writeDashboard, type Dashboard } from "../src/dashboard/index.ts";
import type { Latency, Result, Run } from "../src/results/schema.ts";
import { readResultFile } from "../src/results/read.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const DEMO = ["demo-decoder", "demo-encoder", "demo-encoder-decoder"];
export const SAMPLE_REPO = "example/models";

/** Subjects, oldest first; one holds markup and quotes, which the page must show as text. */
const SUBJECTS = [
  "Pin onnxruntime-node 1.30.0",
  "Calibrate Wanda on 128 windows",
  "Fuse the attention softmax (#41)",
  "Structured: pack the narrowed matmuls once",
  `Tokenizer <b>v0.2</b> & "quoted" names`,
  "Reorder the SparseGPT damping",
  "Encoder: unroll the layer loop",
  "Revert \"Reorder the SparseGPT damping\"",
];

interface Plan {
  /** Perplexity factor of a run (by model and run id) at a commit. */
  perplexity(commit: number, model: string, run: Run): number;
  /** Latency factor of a run at a commit. */
  latency(commit: number, model: string, run: Run): number;
}

const PLAN: Plan = {
  perplexity: (c, model, run) => (model === "demo-decoder" && run.method === "sparsegpt" && !run.finetuned && c >= 6 && c < 8 ? (run.sparsity >= 0.7 ? 1.09 : run.sparsity >= 0.5 ? 1.06 : 1) : 1),
  latency: (c, model, run) => {
    let f = 1;
    if (model === "demo-decoder" && c >= 4 && run.method === "structured") f *= 0.85;
    if (model === "demo-encoder" && c >= 7 && run.sparsity === 0.5 && (run.method === "structured" || run.method === "wanda")) f *= 1.35;
    return f;
  },
};

export function sampleSha(commit: number): string {
  return createHash("sha1").update(`prunebench dashboard sample commit ${commit}`).digest("hex");
}

/**
 * The run's timings again, scaled, each sample jittered by up to ±2% and the whole by up to
 * ±0.5%: the noise of a rerun on the same machine, which the comparison must not call.
 */
function perturbLatency(l: Latency, factor: number, random: () => number): Latency {
  const drift = 1 + (random() - 0.5) * 0.01;
  const samplesMs = l.samplesMs.map((ms) => Number((ms * factor * drift * (1 + (random() - 0.5) * 0.04)).toPrecision(6)));
  const sorted = Float64Array.from(samplesMs).sort();
  const mean = samplesMs.reduce((a, b) => a + b, 0) / samplesMs.length;
  const std = Math.sqrt(samplesMs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, samplesMs.length - 1));
  const p50 = median(sorted);
  return { ...l, samplesMs, p50, p90: sortedQuantile(sorted, 0.9), p99: sortedQuantile(sorted, 0.99), mean, std, tokensPerSecond: (l.batch * l.seqLen * 1000) / p50 };
}

function perturb(result: Result, commit: number, runner: { factor: number; seed: number; runner?: Result["runner"] }): Result {
  const random = seededRandom(commit * 1000 + runner.seed);
  const runs = result.runs.map((run) => {
    const pf = PLAN.perplexity(commit, result.model, run) * (1 + (random() - 0.5) * 4e-4);
    const lf = PLAN.latency(commit, result.model, run) * runner.factor;
    return {
      ...run,
      ...(run.perplexity ? { perplexity: { ...run.perplexity, token: run.perplexity.token * pf, word: run.perplexity.word * pf, nll: run.perplexity.nll + Math.log(pf) } } : {}),
      latency: run.latency.map((l) => perturbLatency(l, lf, random)),
    };
  });
  const { analysis: _analysis, sensitivity: _sensitivity, ...rest } = result;
  const sha = sampleSha(commit);
  return { ...rest, runs, commit: sha, createdAt: new Date(Date.UTC(2026, 10, 1 + commit, 12)).toISOString(), ...(runner.runner ? { runner: runner.runner } : {}) };
}

/** Writes the sample store under `root` (results/<commit>/<runner>/<model>.json) and its commit list; returns the list's path. */
export function writeSampleStore(root: string): string {
  rmSync(path.join(root, "results"), { recursive: true, force: true });
  const demo = DEMO.map((m) => readResultFile(path.join(ROOT, "reports/sample", `${m}.json`)));
  const second = { ...demo[0].runner, cpu: "AMD EPYC 7763 64-Core Processor", cores: 4, memoryBytes: 16e9, fingerprint: "9f3e21c07ab45d18" };
  for (let c = 1; c <= SUBJECTS.length; c++) {
    for (const result of demo) {
      const file = path.join(root, "results", sampleSha(c), result.runner.fingerprint, `${result.model}.json`);
      writeFileAtomic(file, `${JSON.stringify(perturb(result, c, { factor: 1, seed: 1 }))}\n`);
    }
    if (c >= 5) {
      const file = path.join(root, "results", sampleSha(c), second.fingerprint, `${demo[0].model}.json`);
      writeFileAtomic(file, `${JSON.stringify(perturb(demo[0], c, { factor: 0.62, seed: 2, runner: second }))}\n`);
    }
  }
  const list = path.join(root, "commits.txt");
  const lines = SUBJECTS.map((s, i) => `${sampleSha(i + 1)} ${s}`).reverse();
  writeFileAtomic(list, `# newest first, as git log --format='%H %s' prints them\n${lines.join("\n")}\n`);
  return list;
}

/** The store's folder as the page names it: an absolute path would differ between machines. */
const STORE_NAME = "out/dashboard-sample/store";

/** The sample store written to `storeDir` and its dashboard, as `prunebench dashboard <store> --commits <list> --repo example/models` makes it. */
export async function makeSampleDashboard(storeDir: string): Promise<Dashboard> {
  const list = writeSampleStore(storeDir);
  const dashboard = await buildDashboard({ store: new DirStore(storeDir), order: readCommitsFile(list), repo: parseRepo(SAMPLE_REPO), thresholds: DEFAULT_THRESHOLDS });
  return { ...dashboard, html: dashboard.html.replaceAll(storeDir, STORE_NAME) };
}

if (process.argv[1] && import.meta.filename === path.resolve(process.argv[1])) {
  const arg = (name: string, fallback: string) => {
    const i = process.argv.indexOf(name);
    return path.resolve(i > 0 ? process.argv[i + 1] : fallback);
  };
  const out = arg("--out", path.join(ROOT, "reports/sample/dashboard"));
  const dashboard = await makeSampleDashboard(arg("--store", STORE_NAME));
  const file = writeDashboard(out, dashboard);
  const regressions = dashboard.changes.filter((c) => c.comparison.state === "regression");
  console.log(`${file}: ${dashboard.history.commits.length} commits, ${dashboard.history.runners.length} runners, ${dashboard.charts} charts, ${regressions.length} regressions, ${dashboard.changes.length - regressions.length} improvements; ${Math.round(readFileSync(file).length / 1024)} KiB`);
  for (const c of dashboard.changes) console.log(`  ${c.comparison.state} at ${c.commit.sha.slice(0, 7)} on ${c.fingerprint}: ${c.comparison.model} ${c.comparison.runId} ${c.comparison.metric} ${c.comparison.key}: ${c.comparison.reason}`);
}
