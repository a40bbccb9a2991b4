import type { ChartSpec, ReportOptions } from "../types.ts";
import { escapeText } from "../escape.ts";
import { quickchartUrl } from "./quickchart.ts";
import { mermaidChart, mermaidLegend } from "./mermaid.ts";
import { chartTable } from "./table.ts";
import { details } from "../markdown.ts";

/** A chart as Markdown in the report's chart mode; null when the mode leaves it out. */
export function embedChart(spec: ChartSpec, options: Pick<ReportOptions, "charts" | "assetsPath" | "chartUrls">): string | null {
  const alt = escapeText(spec.title);
  const caption = spec.caption ? `\n\n${escapeText(spec.caption, { max: 400 })}` : "";
  switch (options.charts) {
    case "quickchart":
      // Built from our own numbers and sanitized labels, URL-encoded: nothing can close the link.
      return `![${alt}](${options.chartUrls?.get(spec.id) ?? quickchartUrl(spec)})${caption}`;
    case "local":
      return `![${alt}](${options.assetsPath}/${spec.id}.svg)${caption}`;
    case "mermaid": {
      const chart = mermaidChart(spec);
      if (!chart) return spec.redundant ? null : details(`${spec.title} (table)`, chartTable(spec)) + caption;
      const legend = spec.series.length > 1 ? `\n\n${mermaidLegend(spec).map((l) => `${l.emoji} ${escapeText(l.name)}`).join(" · ")}` : "";
      return `${chart}${legend}${caption}`;
    }
    case "none":
      return spec.redundant ? null : details(`${spec.title} (table)`, chartTable(spec)) + caption;
  }
}
