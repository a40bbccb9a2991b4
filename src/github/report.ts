import type { Result } from "../results/schema.ts";

/**
 * The seam between the Action and the report stage (src/report). Until that stage lands,
 * a minimal renderer of our own stands in: one table per model, perplexity and p50 latency
 * against base, verdicts by plain thresholds. Replace the body of renderPrReport with a call
 * into src/report; the Action only relies on this signature.
 */
export type Verdict = "regression" | "improvement" | "no-change" | "inconclusive" | "no-baseline";

export interface Thresholds {
  /** Relative perplexity increase that counts as a regression, e.g. 0.01. */
  perplexity?: number;
  /** Relative p50 latency increase that counts as a regression, e.g. 0.05. */
  latency?: number;
}

export interface ReportInput {
  results: Result[];
  /** Results of the merge base on the same runner fingerprint; undefined when none exist. */
  base?: Result[];
  /** Why there is no base, shown in the report. */
  baseNote?: string;
  thresholds?: Thresholds;
  /** Link to the full report artifact, for when sections are dropped. */
  artifactUrl?: string;
}

export interface RenderedReport {
  markdown: string;
  verdict: Verdict;
  /** One line for check runs and logs. */
  title: string;
}

const DEFAULT_PPL = 0.01;
const DEFAULT_LATENCY = 0.05;

export function renderPrReport(input: ReportInput): RenderedReport {
  const ppl = input.thresholds?.perplexity ?? DEFAULT_PPL;
  const lat = input.thresholds?.latency ?? DEFAULT_LATENCY;
  const lines: string[] = [];
  const verdicts: Verdict[] = [];
  const baseByKey = new Map<string, Result["runs"][number]>();
  for (const r of input.base ?? []) for (const run of r.runs) baseByKey.set(`${r.model}\u0000${run.id}`, run);
  for (const result of [...input.results].sort((a, b) => a.model.localeCompare(b.model))) {
    lines.push(`### ${escapeMarkdown(result.model)} (${escapeMarkdown(result.family)}${result.shard ? `, shard ${escapeMarkdown(result.shard)}` : ""})`, "");
    lines.push("| run | perplexity | base | change | p50 ms | base | change | verdict |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for (const run of result.runs) {
      const base = baseByKey.get(`${result.model}\u0000${run.id}`);
      const p = run.perplexity?.token;
      const bp = base?.perplexity?.token;
      const l = run.latency[0]?.p50;
      const bl = base?.latency[0]?.p50;
      const dp = p !== undefined && bp !== undefined ? p / bp - 1 : undefined;
      const dl = l !== undefined && bl !== undefined ? l / bl - 1 : undefined;
      let verdict: Verdict = input.base ? "no-change" : "no-baseline";
      if (run.error) verdict = "inconclusive";
      else if (base === undefined && input.base) verdict = "inconclusive";
      else if ((dp !== undefined && dp > ppl) || (dl !== undefined && dl > lat)) verdict = "regression";
      else if ((dp !== undefined && dp < -ppl) || (dl !== undefined && dl < -lat)) verdict = "improvement";
      verdicts.push(verdict);
      lines.push(`| ${escapeMarkdown(run.id)} | ${fmt(p)} | ${fmt(bp)} | ${pct(dp)} | ${fmt(l)} | ${fmt(bl)} | ${pct(dl)} | ${verdict} |`);
    }
    lines.push("");
  }
  const verdict = overall(verdicts, input.base !== undefined);
  const count = (v: Verdict) => verdicts.filter((x) => x === v).length;
  const title =
    verdict === "no-baseline"
      ? `prunebench: ${verdicts.length} runs, no baseline to compare with`
      : `prunebench: ${verdict} (${count("regression")} regressions, ${count("improvement")} improvements, ${count("inconclusive")} inconclusive of ${verdicts.length} runs)`;
  const head = [`## ${title}`, ""];
  if (!input.base) head.push(`> No baseline: ${escapeMarkdown(input.baseNote ?? "no stored results for the merge base")}.`, "");
  return { markdown: [...head, ...lines].join("\n"), verdict, title };
}

function overall(verdicts: Verdict[], hasBase: boolean): Verdict {
  if (!hasBase) return "no-baseline";
  for (const v of ["regression", "inconclusive", "improvement"] as const) if (verdicts.includes(v)) return v;
  return "no-change";
}

function fmt(x: number | undefined): string {
  return x === undefined ? "–" : x.toPrecision(4);
}

function pct(x: number | undefined): string {
  return x === undefined ? "–" : `${x >= 0 ? "+" : ""}${(x * 100).toFixed(2)}%`;
}

/** Names come from PRs and model files: no HTML, mentions, links or table breaks. */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/[\\`*_{}[\]()#+!|<>~]/g, (c) => `\\${c}`)
    .replace(/@(?=[A-Za-z])/g, "@\u200b")
    .replace(/\r?\n/g, " ");
}
