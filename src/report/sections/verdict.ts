import type { ReportOptions, Verdict } from "../types.ts";
import type { Section } from "../section.ts";
import { fmtPercent } from "../format.ts";

export function verdictSection(verdict: Verdict, options: ReportOptions): Section {
  const t = options.thresholds;
  const rules =
    `<sub>Perplexity: a change beyond ${fmtPercent(t.perplexity.relative, 1)} (and ${t.perplexity.absolute} absolute). ` +
    `Latency: Mann-Whitney U and a bootstrap interval of the ratio of medians at ${fmtPercent(t.latency.confidence, 0)} confidence, ` +
    `called only when significant and beyond ${fmtPercent(t.latency.relative, 1)}.</sub>`;
  return { id: "verdict", title: "Verdict", level: 2, priority: 0, essential: true, untitled: true, body: `${verdict.summary}\n\n${rules}` };
}
