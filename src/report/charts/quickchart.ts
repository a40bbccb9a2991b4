import quickchartModule from "quickchart-js";
import type { ChartSpec } from "../types.ts";
import { color } from "./palette.ts";

const QUICKCHART_VERSION = "4";

// quickchart-js ships ESM whose default export is the class, but types that TypeScript reads
// as CommonJS (so it sees the class under `.default`): take whichever is there.
type QuickChartClass = typeof quickchartModule.default;
const QuickChart = ("default" in quickchartModule ? quickchartModule.default : quickchartModule) as QuickChartClass;

/** The Chart.js 4 configuration of a chart, as quickchart.io renders it. */
export function chartJsConfig(spec: ChartSpec): Record<string, unknown> {
  const axis = (a: ChartSpec["x"]) => ({
    type: a.categories ? "category" : a.scale === "log" ? "logarithmic" : "linear",
    title: { display: true, text: a.label },
    ...(a.domain ? { min: a.domain[0], max: a.domain[1] } : {}),
    ...(a.percent ? { ticks: { format: { style: "percent" } } } : a.integer ? { ticks: { stepSize: 1 } } : {}),
  });
  const bar = spec.kind === "bar";
  const scatter = spec.kind === "scatter";
  const datasets = spec.series.map((s, i) => ({
    label: s.name,
    // [x, y] pairs: Chart.js reads them like {x, y} and they make URLs a third shorter.
    data: bar ? s.points.map((p) => p.y) : s.points.map((p) => [p.x, p.y]),
    borderColor: scatter && s.connect ? "#888888" : color(s.color ?? i),
    // Fine-tuned scatter series are hollow points of their method's color.
    backgroundColor: scatter && s.dashed ? "#ffffff" : color(s.color ?? i),
    fill: false,
    ...(s.dashed && !scatter ? { borderDash: [6, 4] } : {}),
    ...(spec.kind === "step" ? { stepped: "middle", pointRadius: 0, borderWidth: 1.5 } : {}),
    ...(s.markers && spec.kind === "line" ? { showLine: false, pointRadius: 6, pointStyle: "rectRot" } : {}),
    ...(scatter ? (s.connect ? { showLine: true, pointRadius: 0, borderDash: [4, 3] } : { pointRadius: 4 }) : {}),
  }));
  return {
    type: bar ? "bar" : spec.kind === "scatter" ? "scatter" : "line",
    data: { ...(bar ? { labels: spec.x.categories ?? [] } : {}), datasets },
    options: {
      plugins: {
        title: { display: true, text: spec.title },
        // Legend lines drawn as the series are (dashed where they are), in the series' (the table's) order.
        legend: {
          display: spec.series.length > 1,
          position: "right",
          ...(spec.kind === "line" ? { labels: { usePointStyle: true, pointStyle: "line" } } : {}),
        },
      },
      scales: { x: axis(spec.x), y: axis(spec.y) },
    },
  };
}

/** The quickchart.io URL of a chart, built locally: no network call. */
export function quickchartUrl(spec: ChartSpec): string {
  return new QuickChart()
    .setConfig(chartJsConfig(spec) as never)
    .setWidth(spec.width)
    .setHeight(spec.height)
    .setVersion(QUICKCHART_VERSION)
    .setBackgroundColor("#ffffff")
    .getUrl();
}

export interface ShortUrlOptions {
  /** quickchart's address (a self-hosted one, or a test server); https://quickchart.io by default. */
  baseUrl?: string;
  /** Per request; a runner without network gives up on the first. */
  timeoutMs?: number;
  concurrency?: number;
}

export interface ShortUrls {
  /** Chart id to short URL, for the charts that got one. */
  urls: Map<string, string>;
  /** Charts left with their long URL, and why the first of them failed. */
  failed: number;
  error?: string;
}

function chartFor(spec: ChartSpec, baseUrl: string | undefined) {
  const chart = new QuickChart().setConfig(chartJsConfig(spec) as never).setWidth(spec.width).setHeight(spec.height).setVersion(QUICKCHART_VERSION).setBackgroundColor("#ffffff");
  // getShortUrl insists on the quickchart.io host but posts to getBaseUrl(): point that elsewhere.
  // (getBaseUrl is private in the typings, public at run time.)
  if (baseUrl) (chart as unknown as { getBaseUrl: () => string }).getBaseUrl = () => baseUrl.replace(/\/+$/, "");
  return chart;
}

/**
 * Short URLs from quickchart's /chart/create (getShortUrl in quickchart-js): a few dozen
 * characters instead of 1 to 4 KB, which keeps the comment far from GitHub's limit and its
 * image proxy from failing on long URLs. Charts that fail keep their long URL; after the first
 * failure (no network on the runner) no more requests are made.
 */
export async function shortChartUrls(specs: ChartSpec[], options: ShortUrlOptions = {}): Promise<ShortUrls> {
  const urls = new Map<string, string>();
  let error: string | undefined;
  const queue = [...specs];
  const timeoutMs = options.timeoutMs ?? 10_000;
  const worker = async () => {
    for (let spec = queue.shift(); spec && !error; spec = queue.shift()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
        });
        const url = await Promise.race([chartFor(spec, options.baseUrl).getShortUrl(), timeout]);
        // Only an http(s) URL goes into the Markdown, whatever the server answered.
        if (!/^https?:\/\/[^\s()<>]+$/.test(url)) throw new Error(`unexpected short URL ${JSON.stringify(String(url).slice(0, 80))}`);
        urls.set(spec.id, url);
      } catch (e) {
        error ??= e instanceof Error ? e.message : String(e);
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  return { urls, failed: specs.length - urls.size, ...(error ? { error } : {}) };
}
