import quickchartModule from "quickchart-js";
import { markdownTable } from "markdown-table";
import type { Analysis, Histogram } from "../results/analysis.ts";

/** One analysed model, named as the report shows it. */
export interface NamedAnalysis {
  name: string;
  analysis: Analysis;
}

// quickchart-js's types read as CommonJS (the class under `.default`); at run time the ESM
// default export is the class itself: take whichever is there.
type QuickChartClass = typeof quickchartModule.default;
const QuickChart = ("default" in quickchartModule ? quickchartModule.default : quickchartModule) as QuickChartClass;

const COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"];

function chartUrl(config: object, width = 700, height = 380): string {
  return new QuickChart().setConfig(JSON.stringify(config)).setWidth(width).setHeight(height).setVersion("4").getUrl();
}

const int = (n: number) => n.toLocaleString("en-US");
const frac = (x: number) => (x >= 0.995 || x < 0.01 ? x.toPrecision(3) : x.toFixed(2));
const num = (x: number) => (x === 0 ? "0" : x.toPrecision(4));

/** Every model's curve in one chart, against log10 c (short URLs: labels, rounded values). */
export function curveChart(models: NamedAnalysis[], which: "raw" | "scaleFree"): string {
  const first = models[0].analysis.all[which].cutoffs;
  const labels = first.map((c) => Number(Math.log10(c).toFixed(2)));
  const datasets = models.map((m, i) => ({
    label: m.name,
    data: m.analysis.all[which].fraction.map((f) => Number(f.toFixed(4))),
    borderColor: COLORS[i % COLORS.length],
    fill: false,
    pointRadius: 0,
  }));
  const title = which === "raw" ? "fraction of parameters with |w| < c" : "fraction of parameters with |w| / std(own matrix) < c";
  return chartUrl({
    type: "line",
    data: { labels, datasets },
    options: {
      plugins: { title: { display: true, text: title } },
      scales: { x: { title: { display: true, text: "log10 c" } }, y: { min: 0, max: 1 } },
    },
  });
}

export function histogramChart(name: string, h: Histogram, kind: "linear" | "log10"): string {
  const width = (h.hi - h.lo) / h.counts.length;
  const labels = h.counts.map((_, i) => Number((h.lo + (i + 0.5) * width).toPrecision(3)));
  return chartUrl({
    type: "bar",
    data: { labels, datasets: [{ label: name, data: h.counts, backgroundColor: COLORS[0], barPercentage: 1, categoryPercentage: 1 }] },
    options: {
      plugins: { title: { display: true, text: kind === "linear" ? `${name}: weights` : `${name}: log10 |w| (zeros apart)` }, legend: { display: false } },
      scales: { y: { type: "logarithmic" } },
    },
  });
}

export function layerChart(m: NamedAnalysis): string {
  const parts = [...new Set(m.analysis.perLayer.map((l) => l.part))];
  const datasets = parts.map((part, i) => ({
    label: `${part} median |w|`,
    data: m.analysis.perLayer.filter((l) => l.part === part).map((l) => ({ x: l.layer, y: l.medianAbs })),
    borderColor: COLORS[i % COLORS.length],
    fill: false,
  }));
  return chartUrl({
    type: "line",
    data: { datasets },
    options: { plugins: { title: { display: true, text: `${m.name}: median |w| by layer` } }, scales: { x: { type: "linear", title: { display: true, text: "layer" } } } },
  });
}

/** The analysis as Markdown: the study's tables and charts, for several models at once. */
export function analysisMarkdown(models: NamedAnalysis[]): string {
  const out: string[] = ["# Weight distributions", ""];
  if (models.length === 0) return out.join("\n");
  const cutoffs = models[0].analysis.cutoffs;
  out.push(`Counted: ${models[0].analysis.convention}.`, "");
  out.push(
    markdownTable([
      ["model", "parameters", "with heads", "prunable", "exact zeros", ...cutoffs.map((c) => `frac \\|w\\| < ${c}`)],
      ...models.map((m) => [
        m.name,
        int(m.analysis.params.total),
        int(m.analysis.params.withHeads ?? m.analysis.params.total),
        int(m.analysis.params.prunable),
        int(m.analysis.zeros),
        ...m.analysis.belowCutoff.map(frac),
      ]),
    ]),
    "",
  );
  const scaledPoints = [0.01, 0.1, 1];
  out.push(
    "Raw cutoffs mostly measure each model's weight scale. The scale-free view divides |w| by the standard deviation of its own matrix:",
    "",
    markdownTable([
      ["model", ...scaledPoints.map((c) => `frac \\|w\\|/std < ${c}`)],
      ...models.map((m) => {
        const curve = m.analysis.all.scaleFree;
        return [m.name, ...scaledPoints.map((c) => {
          const i = curve.cutoffs.findIndex((x) => Math.abs(x - c) < 1e-9);
          return i >= 0 ? frac(curve.fraction[i]) : "";
        })];
      }),
    ]),
    "",
    `![fraction below cutoff](${curveChart(models, "raw")})`,
    "",
    `![scale-free fraction below cutoff](${curveChart(models, "scaleFree")})`,
    "",
  );
  for (const m of models) {
    const a = m.analysis;
    out.push(`## ${m.name}`, "");
    out.push(
      markdownTable([
        ["by part", "parameters"],
        ...Object.entries(a.params.byPart).map(([k, v]) => [k, int(v)]),
        ...Object.entries(a.params.byBlock).map(([k, v]) => [`block: ${k}`, int(v)]),
      ]),
      "",
      `![histogram](${histogramChart(m.name, a.all.linear, "linear")})`,
      "",
      `![log histogram](${histogramChart(m.name, a.all.log10, "log10")})`,
      "",
    );
    if (a.perLayer.length > 0) {
      out.push(
        markdownTable([
          ["part", "layer", "parameters", `frac \\|w\\| < ${a.cutoffs[0]}`, "median \\|w\\|", "frac \\|w\\|/std < 0.1"],
          ...a.perLayer.map((l) => [l.part, String(l.layer), int(l.params), frac(l.belowCutoff[0]), num(l.medianAbs), frac(l.belowScaled)]),
        ]),
        "",
      );
      for (const e of a.earlierLayersSmaller) {
        out.push(
          `- ${e.part}: earlier layers ${e.holds ? "do" : "do not"} hold more small weights (Spearman rho of median |w| vs layer ${e.spearman.toFixed(2)}, ${e.layers ?? "?"} layers${(e.layers ?? 0) < 4 ? ": too few layers to tell" : ""}).`,
        );
      }
      out.push("", `![per layer](${layerChart(m)})`, "");
    }
  }
  return out.join("\n");
}
