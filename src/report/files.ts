import path from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.ts";
import type { ChartSpec, RenderedReport } from "./types.ts";
import { renderSvg, svgToPng } from "./charts/vega.ts";

export interface WrittenReport {
  markdown: string;
  full: string;
  verdict: string;
  charts: { id: string; svg: string; png?: string }[];
}

/** Renders every chart to `dir/charts/<id>.svg` (and .png unless `png: false`). */
export async function writeCharts(dir: string, charts: ChartSpec[], options: { png?: boolean; scale?: number } = {}): Promise<WrittenReport["charts"]> {
  const out: WrittenReport["charts"] = [];
  for (const spec of charts) {
    const svg = await renderSvg(spec);
    const svgFile = path.join(reportFilePaths(dir).charts, `${spec.id}.svg`);
    writeFileAtomic(svgFile, svg);
    const entry: WrittenReport["charts"][number] = { id: spec.id, svg: svgFile };
    if (options.png !== false) {
      entry.png = path.join(reportFilePaths(dir).charts, `${spec.id}.png`);
      writeFileAtomic(entry.png, svgToPng(svg, options.scale ?? 2));
    }
    out.push(entry);
  }
  return out;
}

/** The paths writeReportFiles writes in `dir` (charts: the folder of the chart files). */
export function reportFilePaths(dir: string): { markdown: string; full: string; verdict: string; charts: string } {
  return { markdown: path.join(dir, "report.md"), full: path.join(dir, "report-full.md"), verdict: path.join(dir, "verdict.json"), charts: path.join(dir, "charts") };
}

/**
 * The report's artifact: report.md (as fitted for a comment), report-full.md (nothing
 * dropped), verdict.json and the charts as SVG and PNG, all written atomically.
 */
export async function writeReportFiles(dir: string, report: RenderedReport, options: { png?: boolean; scale?: number } = {}): Promise<WrittenReport> {
  const { charts: _folder, ...paths } = reportFilePaths(dir);
  const files: WrittenReport = { ...paths, charts: [] };
  writeFileAtomic(files.markdown, report.markdown);
  writeFileAtomic(files.full, report.fullMarkdown);
  writeJsonAtomic(files.verdict, { ...report.verdict, folded: report.folded, dropped: report.dropped });
  files.charts = await writeCharts(dir, report.charts, options);
  return files;
}
