import type { ReportOptions, Verdict } from "../types.ts";
import type { Section } from "../section.ts";
import { fmtPercent } from "../format.ts";
import { escapeText } from "../escape.ts";

export function verdictSection(verdict: Verdict, options: ReportOptions): Section {
  const t = options.thresholds;
  const rules =
    `<sub>Perplexity: a change beyond ${fmtPercent(t.perplexity.relative, 1)} (and ${t.perplexity.absolute} absolute). ` +
    `Latency: Mann-Whitney U and a bootstrap interval of the ratio of medians at ${fmtPercent(t.latency.confidence, 0)} confidence, ` +
    `called only when significant and beyond ${fmtPercent(t.latency.relative, 1)}.</sub>`;
  return { id: "verdict", title: "Verdict", level: 2, priority: 0, essential: true, untitled: true, body: [verdict.summary, failedRuns(verdict), rules].filter(Boolean).join("\n\n") };
}

/** A failed run is news: named right under the verdict, before anything else (the table follows below). */
function failedRuns(verdict: Verdict): string {
  const shown = verdict.failures.slice(0, 5).map((f) => `- :x: **${escapeText(f.model, { max: 60 })}**, run ${escapeText(f.runId, { max: 60 })} failed: ${escapeText(f.error, { max: 200 })}`);
  if (verdict.failures.length > shown.length) shown.push(`- … and ${verdict.failures.length - shown.length} more failed runs (listed below)`);
  return shown.join("\n");
}
