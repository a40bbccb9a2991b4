import type { Result, Run } from "../../results/schema.ts";
import type { ChartCollector, Section } from "../section.ts";
import { join } from "../section.ts";
import { escapeText } from "../escape.ts";
import { fmtChange, fmtCount, fmtNumber, fmtPercent, plural } from "../format.ts";
import { table } from "../markdown.ts";
import { denseRun, denseTunedRun, isDense, latencyFor, latencyKeys, methodGroups, methodLabel } from "../runs.ts";
import { chartId, latencyChart, perplexityChart } from "../charts/build.ts";
import type { LatencyThresholds } from "../types.ts";
import { compareLatency, type LatencyVerdict } from "../stats/latency.ts";

function runLine(r: Result): string {
  const gpu = r.runner.gpu ? `, ${escapeText(r.runner.gpu, { max: 60 })}` : "";
  return (
    `${escapeText(r.family)} · ${escapeText(r.architecture, { max: 60 })} · ` +
    `${escapeText(r.runner.provider)} on ${escapeText(r.runner.cpu, { max: 60 })}${gpu} · onnxruntime ${escapeText(r.runner.ort, { max: 20 })}` +
    (r.commit ? ` · commit ${escapeText(r.commit.slice(0, 12))}` : "")
  );
}

interface Row {
  label: string;
  sparsity: number;
  pruned?: Run;
  tuned?: Run;
}

/** Pruned and fine-tuned runs of the same method and target sparsity side by side. */
function rows(result: Result): Row[] {
  const byKey = new Map<string, Row>();
  for (const g of methodGroups(result)) {
    // Budget search points have their own section; the table keeps to the config's sweep.
    for (const run of g.runs.filter((r) => !r.search)) {
      const key = `${g.label}@${run.sparsity}`;
      let row = byKey.get(key);
      if (!row) byKey.set(key, (row = { label: g.label, sparsity: run.sparsity }));
      if (run.finetuned) row.tuned = run;
      else row.pruned = run;
    }
  }
  return [...byKey.values()];
}

function perplexityTable(result: Result): string {
  const dense = denseRun(result);
  const control = denseTunedRun(result);
  const base = dense?.perplexity?.token;
  // Fine-tuned rows against the dense model fine-tuned with the same recipe, where it ran.
  const tunedBase = control?.perplexity?.token ?? base;
  const overlaps = result.overlaps ?? [];
  const optimistic = (run: Run) => overlaps.some((o) => o.methods.includes(run.method) || (o.methods.includes("*") && run.finetuned));
  const ppl = (run: Run | undefined) =>
    run?.perplexity ? `${fmtNumber(run.perplexity.token)}${optimistic(run) ? " ⚠" : ""}` : run?.error ? "failed" : "–";
  const vs = (run: Run | undefined, against = base) => (run?.perplexity && against ? fmtChange(run.perplexity.token / against - 1) : "");
  const body = rows(result).map((r) => [
    escapeText(r.label, { max: 60 }),
    fmtPercent(r.sparsity),
    fmtPercent((r.pruned ?? r.tuned)?.achievedSparsity, 1),
    ppl(r.pruned),
    vs(r.pruned),
    r.tuned ? ppl(r.tuned) : "",
    vs(r.tuned, tunedBase),
  ]);
  const controlRow = control ?? result.runs.find((r) => isDense(r) && r.finetuned);
  if (controlRow) body.unshift(["dense + fine-tune", "0%", fmtPercent(controlRow.achievedSparsity, 1), ppl(controlRow), vs(controlRow), "", ""]);
  if (dense) body.unshift(["dense", "0%", fmtPercent(dense.achievedSparsity, 1), ppl(dense), "", "", ""]);
  if (!body.length) return "";
  const ds = (dense ?? result.runs.find((r) => r.perplexity))?.perplexity;
  const about = ds ? `Token perplexity on ${escapeText(ds.dataset, { max: 60 })} (${escapeText(ds.protocol, { max: 40 })}, ${ds.seqLen} tokens a window).` : "";
  const validation = control?.finetune?.validation ?? result.runs.find((r) => r.finetune?.validation)?.finetune?.validation;
  const controlNote = control?.perplexity
    ? ` dense + fine-tune is the control: the dense model fine-tuned with the same recipe; fine-tuned rows are compared with it.`
    : "";
  const keptNote = validation ? ` Fine-tuning keeps the weights of the lowest validation loss (step 0 included) on ${escapeText(validation, { max: 80 })}, apart from this test text.` : "";
  const overlapNote = overlaps.length
    ? `> [!WARNING]\n> Not a fair comparison: ` +
      overlaps
        .map((o) => `the ${o.use} text (${escapeText(o.field)}: ${escapeText(o.dataset, { max: 60 })}) is also evaluated (bytes ${o.bytes[0]}–${o.bytes[1]} of ${escapeText(o.evaluation, { max: 60 })})`)
        .join("; ") +
      `. Perplexities marked ⚠ were measured on text the model was calibrated or trained on, so they are optimistic.`
    : "";
  return join(
    about + controlNote + keptNote,
    overlapNote,
    table(
      ["method", "target", "achieved", "perplexity", "vs dense", "fine-tuned", control?.perplexity ? "vs dense + fine-tune" : "vs dense"],
      body,
      ["l", "r", "r", "r", "r", "r", "r"],
    ),
  );
}

/**
 * Each run's latency at `key` against dense's, with the same test as against the base
 * (Mann-Whitney U and a bootstrap interval of the ratio of medians): one 0.6 ms model run
 * twice differs by ±30% on a busy runner, and a reader must not see that as a result.
 */
function versusDense(result: Result, key: string, t: LatencyThresholds): Map<Run, LatencyVerdict> {
  const out = new Map<Run, LatencyVerdict>();
  const dense = denseRun(result);
  const d = dense && latencyFor(dense, key);
  if (!d) return out;
  for (const run of result.runs) {
    const l = run !== dense && !run.error ? latencyFor(run, key) : undefined;
    if (l) out.set(run, compareLatency(d.samplesMs, l.samplesMs, t));
  }
  return out;
}

/** A change only where it is significant and beyond the threshold; ≈ within it; ? too noisy to say. */
function fmtVersusDense(v: LatencyVerdict | undefined): string {
  if (!v) return "";
  if (v.state === "regression" || v.state === "improvement") return fmtChange(v.change);
  return v.state === "no-change" ? "≈" : "?";
}

function latencyTable(result: Result, t: LatencyThresholds): string {
  const keys = latencyKeys(result);
  if (!keys.length) return "";
  const dense = denseRun(result);
  const verdicts = versusDense(result, keys[0], t);
  const list: { label: string; run: Run }[] = [];
  if (dense) list.push({ label: "dense", run: dense });
  for (const g of methodGroups(result)) if (!g.finetuned) for (const run of g.runs) list.push({ label: g.label, run });
  const body = list
    .filter(({ run }) => run.latency.length)
    .map(({ label, run }) => [
      escapeText(label, { max: 60 }),
      fmtPercent(run.sparsity),
      `${fmtNumber(run.sizeBytes / 2 ** 20, 3)} MiB`,
      ...keys.map((k) => {
        const l = latencyFor(run, k);
        return l ? `${fmtNumber(l.p50, 3)} (${fmtNumber(l.p90, 3)})` : "–";
      }),
      fmtVersusDense(verdicts.get(run)),
    ]);
  const legend = verdicts.size
    ? ` "vs dense" shows a change only where Mann-Whitney U and the bootstrap interval of the ratio of medians find it significant at ` +
      `${fmtPercent(t.confidence)} confidence and beyond ${fmtPercent(t.relative, 1)}; ≈ marks no change, ? too noisy to say.`
    : "";
  return join(
    `Median (p90) latency in ms of one forward pass, by provider, batch and sequence length.${legend}`,
    table(["method", "sparsity", "size", ...keys.map((k) => escapeText(k)), `vs dense (${escapeText(keys[0])})`], body, ["l", "r", "r", ...keys.map(() => "r" as const), "r"]),
    kernelNote(result, verdicts),
  );
}

/**
 * The study saw a pruned GPT-2 run slower than dense. Zeros in a dense matrix do not skip
 * work in dense GEMM kernels, so unstructured sparsity cannot be faster; say so with the
 * verdicts (never with raw differences, which on a small model are mostly noise).
 */
function kernelNote(result: Result, verdicts: Map<Run, LatencyVerdict>): string {
  const unstructured = [...verdicts].filter(([r]) => r.method !== "structured" && !isDense(r)).map(([, v]) => v.state);
  if (!unstructured.length) return "";
  const count = (s: LatencyVerdict["state"]) => unstructured.filter((x) => x === s).length;
  const bits = [
    count("no-change") && `${count("no-change")} no different from dense`,
    count("inconclusive") && `${count("inconclusive")} too noisy to say`,
    count("regression") && `${count("regression")} slower`,
    count("improvement") && `${count("improvement")} faster`,
  ].filter(Boolean);
  const faster = [...verdicts].filter(([r, v]) => r.method === "structured" && v.state === "improvement").map(([r]) => escapeText(methodLabel(r)));
  return (
    `> Unstructured pruning (${plural(unstructured.length, "run")}: ${bits.join(", ")}) leaves matrices dense: ` +
    `zeros do not skip work in dense kernels, so they cannot make the model faster.` +
    (faster.length ? ` Structured pruning shrinks the matrices: ${[...new Set(faster)].join(", ")} ran significantly faster.` : "")
  );
}

export function modelSection(result: Result, index: number, charts: ChartCollector): Section {
  const ppl = perplexityTable(result);
  const lat = latencyTable(result, charts.options.thresholds.latency);
  const failed = result.runs.filter((r) => r.error).length;
  const body = join(
    runLine(result),
    result.analysis && `${fmtCount(result.analysis.params.total)} parameters (${escapeText(result.analysis.convention, { max: 120 })}).`,
    ppl && `**Perplexity vs sparsity**\n\n${ppl}`,
    charts.add(perplexityChart(result, chartId(result.model, String(index), "perplexity"))),
    lat && `**Latency vs sparsity**\n\n${lat}`,
    charts.add(latencyChart(result, chartId(result.model, String(index), "latency"))),
    failed > 0 && `${failed} run${failed === 1 ? "" : "s"} failed: see Against base.`,
  );
  return { id: `model-${index}`, title: `Model: ${result.model}`, level: 3, priority: 20 + index, body };
}
