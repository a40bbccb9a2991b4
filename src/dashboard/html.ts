import type { ChartSpec, Thresholds } from "../report/types.ts";
import { escapeHtml, escapeUrlAttribute, slug } from "../report/escape.ts";
import { fmtChange, fmtMs, fmtNumber, fmtPercent, plural } from "../report/format.ts";
import { latencyKeys, latencyFor, isDense } from "../report/runs.ts";
import type { Run } from "../results/schema.ts";
import type { Change } from "./changes.ts";
import { newestPair } from "./charts.ts";
import type { History, RunnerHistory } from "./history.ts";
import { commitUrl, type RepoRef } from "./links.ts";
import type { CommitInfo } from "./order.ts";

export interface RenderedChart {
  spec: ChartSpec;
  svg: string;
}

export interface PageInput {
  title: string;
  repo?: RepoRef;
  /** "branch prunebench-results", "folder ./store". */
  store: string;
  history: History;
  changes: Change[];
  thresholds: Thresholds;
  charts: Map<string, Array<{ model: string; charts: RenderedChart[] }>>;
}

const esc = (text: string, max = 200) => escapeHtml(text, { max });

/**
 * No script, nothing fetched: the policy lets the page use its own inline styles and nothing
 * else, so neither a stray URL nor injected markup could load anything.
 */
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 0 auto; padding: 1rem 1.5rem 3rem; max-width: 1240px; color: #222; background: #fff; }
h1 { font-size: 1.5rem; margin: 0.5rem 0; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; } h3 { font-size: 1.05rem; margin-top: 1.5rem; }
.meta { color: #555; margin: 0.2rem 0; } .warning { color: #8a4b00; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 13px; } th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; } th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.regression td:first-child { border-left: 4px solid #e8000b; } tr.improvement td:first-child { border-left: 4px solid #2ca02c; }
.state-regression { color: #c00000; font-weight: 600; } .state-improvement { color: #1d7a1d; font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 0.5rem 1rem; }
figure { margin: 0; } figure svg { max-width: 100%; height: auto; } figcaption { color: #555; font-size: 12px; }
code, .sha { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
nav ul { margin: 0.3rem 0; padding-left: 1.2rem; } details { margin: 0.5rem 0; } summary { cursor: pointer; }
`;

/** The whole page: one file, charts inline, no script. */
export function renderPage(input: PageInput): string {
  const { history } = input;
  const title = input.repo ? `${input.title}: ${input.repo.owner}/${input.repo.repo}` : input.title;
  const body = [
    `<header><h1>${esc(title)}</h1>`,
    summaryLines(input).map((l) => `<p class="meta">${l}</p>`).join("\n"),
    `</header>`,
    navigation(history),
    changesSection(input),
    ...history.runners.map((runner) => runnerSection(input, runner)),
  ].join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="prunebench dashboard">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

function summaryLines(input: PageInput): string[] {
  const { history, changes, thresholds } = input;
  const first = history.commits[0];
  const last = history.commits[history.commits.length - 1];
  const regressions = changes.filter((c) => c.comparison.state === "regression").length;
  const models = new Set(history.runners.flatMap((r) => r.points.flatMap((p) => p.results.map((x) => x.model))));
  const lines = [
    first
      ? `${plural(history.commits.length, "commit")}, ${commitLink(input.repo, first)} to ${commitLink(input.repo, last)}; ${plural(history.runners.length, "runner")}, ${plural(models.size, "model")}; ` +
        `<span class="state-regression">${plural(regressions, "regression")}</span>, ${plural(changes.length - regressions, "improvement")} called between consecutive commits.`
      : "No results in the store yet.",
    `Results from the ${esc(input.store)}; commits in the order of ${esc(history.order)}.`,
    `Thresholds, as the report's: perplexity ${fmtPercent(thresholds.perplexity.relative, 1)} (and at least ${fmtNumber(thresholds.perplexity.absolute)}); ` +
      `latency ${fmtPercent(thresholds.latency.relative, 1)}, significant at ${fmtPercent(thresholds.latency.confidence, 0)} (Mann-Whitney U and a bootstrap interval of the ratio of medians), same runner fingerprint only.`,
  ];
  if (history.outside) lines.push(`${plural(history.outside, "stored commit")} not on this history (pull request heads, other branches) left out.`);
  if (history.older) lines.push(`${plural(history.older, "older commit")} left out (only the newest ${history.commits.length} are shown).`);
  for (const w of history.warnings.slice(0, 20)) lines.push(`<span class="warning">Skipped: ${esc(w, 400)}</span>`);
  if (history.warnings.length > 20) lines.push(`<span class="warning">and ${history.warnings.length - 20} more unreadable result files</span>`);
  return lines;
}

function commitLink(repo: RepoRef | undefined, commit: CommitInfo): string {
  const label = `<span class="sha">${esc(commit.sha.slice(0, 7))}</span>`;
  const url = commitUrl(repo, commit.sha);
  const href = url && escapeUrlAttribute(url);
  const titleText = [commit.subject, commit.date].filter(Boolean).join(" · ");
  const title = titleText ? ` title="${esc(titleText, 300)}"` : "";
  return href ? `<a href="${href}"${title}>${label}</a>` : `<span${title}>${label}</span>`;
}

const runnerId = (fingerprint: string) => `runner-${slug(fingerprint)}`;
const modelId = (fingerprint: string, model: string) => `${slug(fingerprint)}-${slug(model)}`;

function navigation(history: History): string {
  if (!history.runners.length) return "";
  const items = history.runners.map((r) => {
    const models = [...new Set(r.points.flatMap((p) => p.results.map((x) => x.model)))];
    return `<li><a href="#${runnerId(r.fingerprint)}">runner ${esc(r.fingerprint)}</a>: ${models.map((m) => `<a href="#${modelId(r.fingerprint, m)}">${esc(m)}</a>`).join(", ")}</li>`;
  });
  return `<nav><ul><li><a href="#changes">regressions and improvements</a></li>${items.join("")}</ul></nav>`;
}

function valueText(metric: string, v: number | null): string {
  if (v === null) return "–";
  return metric === "latency" ? fmtMs(v) : metric === "reach" ? fmtPercent(v) : fmtNumber(v);
}

function changeText(metric: string, change: number | null): string {
  if (change === null) return "–";
  return metric === "reach" ? `${change > 0 ? "+" : ""}${(change * 100).toFixed(1)} points` : fmtChange(change);
}

function changesSection(input: PageInput): string {
  const rows = [...input.changes].reverse().map((c) => {
    const x = c.comparison;
    return (
      `<tr class="${x.state}"><td class="state-${x.state}">${x.state}</td><td>${commitLink(input.repo, c.commit)} ${esc(c.commit.subject ?? "", 120)}</td>` +
      `<td>${commitLink(input.repo, c.previous)}</td><td class="sha">${esc(c.fingerprint)}</td><td>${esc(x.model)}</td><td>${esc(x.runId)}</td>` +
      `<td>${esc(x.metric)}${x.metric === "perplexity" ? "" : ` (${esc(x.key)})`}</td><td class="num">${valueText(x.metric, x.base)} → ${valueText(x.metric, x.head)}</td>` +
      `<td class="num">${changeText(x.metric, x.change)}</td><td>${esc(x.reason, 300)}</td></tr>`
    );
  });
  const table = rows.length
    ? `<table><thead><tr><th>called</th><th>commit</th><th>against</th><th>runner</th><th>model</th><th>run</th><th>metric</th><th>before → after</th><th>change</th><th>why</th></tr></thead><tbody>\n${rows.join("\n")}\n</tbody></table>`
    : `<p>None: no change between consecutive commits went past the thresholds.</p>`;
  return `<section id="changes"><h2>Regressions and improvements, newest first</h2>\n${table}\n</section>`;
}

function runnerSection(input: PageInput, runner: RunnerHistory): string {
  const r = runner.runner;
  const described = `${r.cpu} ×${r.cores}, ${r.gpu ?? "no GPU"}${r.driver ? ` (driver ${r.driver})` : ""}, onnxruntime ${r.ort} (${r.provider}), ${r.os}, Node ${r.node}`;
  const models = input.charts.get(runner.fingerprint) ?? [];
  return [
    `<section id="${runnerId(runner.fingerprint)}"><h2>Runner <span class="sha">${esc(runner.fingerprint)}</span></h2>`,
    `<p class="meta">${esc(described, 400)}; ${plural(runner.points.length, "commit")} measured.</p>`,
    ...models.map((m) => modelSection(input, runner, m.model, m.charts)),
    `</section>`,
  ].join("\n");
}

function modelSection(input: PageInput, runner: RunnerHistory, model: string, charts: RenderedChart[]): string {
  const figures = charts.map(
    (c) => `<figure data-chart="${esc(c.spec.id)}">${inlineSvg(c.svg, c.spec.id)}${c.spec.caption ? `<figcaption>${esc(c.spec.caption, 400)}</figcaption>` : ""}</figure>`,
  );
  return [`<section id="${modelId(runner.fingerprint, model)}"><h3>${esc(model)}</h3>`, `<div class="charts">\n${figures.join("\n")}\n</div>`, newestTable(input, runner, model), `</section>`].join("\n");
}

/** The newest commit's numbers beside the previous commit's, with what was called between them. */
function newestTable(input: PageInput, runner: RunnerHistory, model: string): string {
  const { newest, previous } = newestPair(runner, model);
  if (!newest) return "";
  const key = latencyKeys(newest.result)[0];
  const before = new Map(previous?.result.runs.map((r) => [r.id, r]) ?? []);
  const called = new Map(
    input.changes.filter((c) => c.fingerprint === runner.fingerprint && c.commit.sha === newest.sha && c.comparison.model === model).map((c) => [`${c.comparison.runId}\u0000${c.comparison.metric}\u0000${c.comparison.key}`, c.comparison.state]),
  );
  const p50 = (run: Run | undefined) => (run && key ? latencyFor(run, key)?.p50 : undefined);
  const rel = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? a / b - 1 : null);
  const runs = newest.result.runs.filter((r) => !r.search).sort((a, b) => Number(isDense(b)) - Number(isDense(a)));
  const rows = runs.map((run) => {
    const old = before.get(run.id);
    const pplState = run.perplexity ? called.get(`${run.id}\u0000perplexity\u0000${run.perplexity.dataset}`) : undefined;
    const latState = key ? called.get(`${run.id}\u0000latency\u0000${key}`) : undefined;
    const mark = (s: string | undefined) => (s ? ` <span class="state-${s}">${s}</span>` : "");
    return (
      `<tr${pplState || latState ? ` class="${pplState ?? latState}"` : ""}><td>${esc(run.id)}</td>` +
      (run.error ? `<td colspan="4">failed: ${esc(run.error, 200)}</td>` : `<td class="num">${fmtNumber(run.perplexity?.token)}</td><td class="num">${fmtChange(rel(run.perplexity?.token, old?.perplexity?.token))}${mark(pplState)}</td>` + `<td class="num">${fmtMs(p50(run))}</td><td class="num">${fmtChange(rel(p50(run), p50(old)))}${mark(latState)}</td>`) +
      `</tr>`
    );
  });
  const against = previous ? ` against ${commitLink(input.repo, { sha: previous.sha })}` : "";
  return (
    `<details><summary>Numbers at the newest commit, ${commitLink(input.repo, { sha: newest.sha })}${against}</summary>` +
    `<table><thead><tr><th>run</th><th>perplexity</th><th>change</th><th>p50 latency${key ? ` (${esc(key)})` : ""}</th><th>change</th></tr></thead><tbody>\n${rows.join("\n")}\n</tbody></table></details>`
  );
}

/**
 * Vega numbers the clip paths of every chart from 1, so in one page the ids would collide and
 * each chart would clip to the first one's rectangle: each chart's ids get its own prefix.
 */
export function inlineSvg(svg: string, prefix: string): string {
  const ids = new Set([...svg.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]));
  let out = svg.replace(/^<\?xml[^>]*>\s*/, "");
  for (const id of ids) {
    const quoted = id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    out = out
      .replace(new RegExp(`(\\sid=")${quoted}"`, "g"), `$1${prefix}-${id}"`)
      .replace(new RegExp(`url\\(#${quoted}\\)`, "g"), `url(#${prefix}-${id})`)
      .replace(new RegExp(`(href=")#${quoted}"`, "g"), `$1#${prefix}-${id}"`);
  }
  return out;
}
