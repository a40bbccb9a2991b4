import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { Resvg } from "@resvg/resvg-js";
import type { ChartSpec } from "../types.ts";
import { color } from "./palette.ts";

const FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif";

/** The Vega-Lite spec of a chart: the local, offline twin of the quickchart image. */
export function vegaLiteSpec(spec: ChartSpec): TopLevelSpec {
  const rows = spec.series.flatMap((s, i) =>
    s.points.map((p) => ({ series: s.name, order: i, x: p.x, y: p.y, dashed: Boolean(s.dashed), cat: spec.x.categories?.[p.x] ?? "" })),
  );
  // A connected scatter series (the Pareto front) is drawn as a gray dashed line, not a color.
  const names = spec.series.filter((s) => !(spec.kind === "scatter" && s.connect)).map((s) => s.name);
  const axis = (a: ChartSpec["x"]) => ({
    title: a.label,
    ...(a.percent ? { axis: { format: ".0%" } } : {}),
    scale: a.scale === "log" ? { type: "log" as const, nice: true } : { type: "linear" as const, zero: false, nice: true },
  });
  const colorEnc = {
    field: "series",
    type: "nominal" as const,
    scale: { domain: names, range: names.map((_, i) => color(i)) },
    legend: names.length > 1 ? { title: null, orient: "bottom" as const, columns: 3, labelLimit: 260 } : null,
  };
  const base = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: spec.title, fontSize: 14 },
    width: spec.width,
    height: spec.height,
    background: "white",
    config: { font: FONT, view: { stroke: "#ddd" }, axis: { gridColor: "#eee" } },
    data: { values: rows },
  };
  if (spec.kind === "bar") {
    return {
      ...base,
      mark: { type: "bar" },
      encoding: {
        x: { field: "cat", type: "ordinal", sort: null, title: spec.x.label },
        y: { field: "y", type: "quantitative", ...axis(spec.y) },
        color: colorEnc,
      },
    } as TopLevelSpec;
  }
  const x = { field: "x", type: "quantitative" as const, ...axis(spec.x) };
  const y = { field: "y", type: "quantitative" as const, ...axis(spec.y) };
  const dash = { field: "dashed", type: "nominal" as const, scale: { domain: [false, true], range: [[1, 0], [6, 4]] }, legend: null };
  if (spec.kind === "scatter") {
    const connected = new Set(spec.series.filter((s) => s.connect).map((s) => s.name));
    return {
      ...base,
      layer: [
        {
          transform: [{ filter: { field: "series", oneOf: [...connected] } }],
          mark: { type: "line", strokeDash: [4, 3], color: "#888" },
          encoding: { x, y, order: { field: "x" } },
        },
        {
          transform: [{ filter: { not: { field: "series", oneOf: [...connected] } } }],
          mark: { type: "point", filled: true, size: 60 },
          encoding: { x, y, color: colorEnc },
        },
      ],
    } as TopLevelSpec;
  }
  return {
    ...base,
    mark: spec.kind === "step" ? { type: "line", interpolate: "step", strokeWidth: 1.5 } : { type: "line", point: spec.series.every((s) => s.points.length <= 20) },
    encoding: { x, y, color: colorEnc, strokeDash: dash, detail: { field: "series" }, order: { field: "x" } },
  } as TopLevelSpec;
}

/** SVG text of a chart, rendered by Vega in Node: no canvas, no browser, no network. */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  const compiled = compile(vegaLiteSpec(spec)).spec;
  // A loader that refuses everything: the data is inline and nothing may be fetched.
  const loader = vega.loader({ mode: "file" });
  loader.load = () => Promise.reject(new Error("prunebench charts load no data"));
  const view = new vega.View(vega.parse(compiled), { renderer: "none", loader });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** PNG bytes of an SVG at `scale` times its size, drawn by resvg with the system's fonts. */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  const resvg = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
    background: "white",
  });
  return resvg.render().asPng();
}
