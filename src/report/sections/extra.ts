import type { Result } from "../../results/schema.ts";
import type { ChartCollector, Section } from "../section.ts";
import { join } from "../section.ts";
import { escapeText } from "../escape.ts";
import { fmtNumber, fmtChange, fmtPercent } from "../format.ts";
import { details, table } from "../markdown.ts";
import { chartId, paretoChart, sensitivityChart } from "../charts/build.ts";
import { paretoFront } from "../charts/pareto.ts";
import { latencyFor, latencyKeys } from "../runs.ts";

export function sensitivitySection(results: Result[], charts: ChartCollector): Section | null {
  const rs = results.filter((r) => r.sensitivity?.layers.length);
  if (!rs.length) return null;
  const blocks = rs.map((r, i) => {
    const s = r.sensitivity!;
    const worst = [...s.layers].sort((a, b) => b.perplexity - a.perplexity).slice(0, 3);
    return join(
      charts.add(sensitivityChart(r, chartId(r.model, String(i), "sensitivity"))),
      `${escapeText(r.model, { max: 60 })}: pruning one layer at a time with ${escapeText(s.method)} at ${fmtPercent(s.sparsity)} ` +
        `(dense ${fmtNumber(s.baseline)}); most sensitive: ` +
        worst.map((l) => `${escapeText(l.part)} ${l.layer} (${fmtChange(l.perplexity / s.baseline - 1)})`).join(", ") +
        ".",
    );
  });
  return { id: "sensitivity", title: "Sensitivity", level: 3, priority: 65, body: join(...blocks) };
}

export function paretoSection(results: Result[], charts: ChartCollector): Section | null {
  const blocks: string[] = [];
  results.forEach((r, i) => {
    const chart = paretoChart(r, chartId(r.model, String(i), "pareto"));
    if (!chart) return;
    const key = latencyKeys(r)[0];
    const points = r.runs.flatMap((run) => {
      const l = latencyFor(run, key);
      return l && run.perplexity && !run.error ? [{ run, x: l.p50, y: run.perplexity.token }] : [];
    });
    const front = paretoFront(points).map((p) => `${escapeText(p.run.id, { max: 60 })} (${fmtNumber(p.x, 3)} ms, ${fmtNumber(p.y)})`);
    blocks.push(join(charts.add(chart), `${escapeText(r.model, { max: 60 })}, runs on the Pareto front: ${front.join(", ")}.`));
  });
  if (!blocks.length) return null;
  return { id: "pareto", title: "Perplexity vs latency", level: 3, priority: 45, body: join(...blocks) };
}

export function detailsSection(results: Result[]): Section {
  const runners = table(
    ["model", "provider", "cpu", "cores", "gpu", "driver", "onnxruntime", "node", "os", "fingerprint", "commit"],
    results.map((r) => [
      escapeText(r.model, { max: 60 }),
      escapeText(r.runner.provider),
      escapeText(r.runner.cpu, { max: 60 }),
      String(r.runner.cores),
      escapeText(r.runner.gpu ?? "–", { max: 60 }),
      escapeText(r.runner.driver ?? "–", { max: 30 }),
      escapeText(r.runner.ort, { max: 20 }),
      escapeText(r.runner.node, { max: 20 }),
      escapeText(r.runner.os, { max: 40 }),
      escapeText(r.runner.fingerprint, { max: 20 }),
      escapeText(r.commit?.slice(0, 12) ?? "–"),
    ]),
  );
  const warnings = results.flatMap((r) => r.warnings.map((w) => `- ${escapeText(r.model, { max: 60 })}: ${escapeText(w, { max: 300 })}`));
  const timings = results
    .filter((r) => Object.keys(r.timings).length)
    .map((r) => `- ${escapeText(r.model, { max: 60 })}: ${Object.entries(r.timings).map(([k, v]) => `${escapeText(k, { max: 40 })} ${fmtNumber(v, 3)} s`).join(", ")}`);
  const finetune = results.flatMap((r) =>
    r.runs
      .filter((run) => run.finetune)
      .map((run) => [
        escapeText(r.model, { max: 60 }),
        escapeText(run.id, { max: 60 }),
        // An external trainer reports no steps or losses: their cells say so with "–".
        run.finetune!.steps === undefined ? "–" : String(run.finetune!.steps),
        fmtNumber(run.finetune!.lossStart),
        fmtNumber(run.finetune!.lossEnd),
        run.finetune!.bestStep === undefined ? "–" : String(run.finetune!.bestStep),
        escapeText(run.finetune!.validation ?? "–", { max: 60 }),
        escapeText(run.finetune!.trainer) + (run.finetune!.reapplied === undefined ? "" : ` (${fmtNumber(run.finetune!.reapplied)} pruned weights re-zeroed)`),
        `${fmtNumber(run.finetune!.seconds, 3)} s`,
      ]),
  );
  const body = join(
    details("Runners", runners),
    finetune.length && details("Fine-tuning", table(["model", "run", "steps", "validation loss at start", "validation loss kept", "step kept", "validation text", "trainer", "time"], finetune)),
    warnings.length && details(`Warnings (${warnings.length})`, warnings.join("\n")),
    timings.length && details("Stage timings", timings.join("\n")),
  );
  return { id: "details", title: "Details", level: 3, priority: 90, body };
}
