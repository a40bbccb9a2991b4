import { createRequire } from "node:module";
import type { TopLevelSpec } from "vega-lite";
import type * as ResvgModule from "@resvg/resvg-js";
import type { ChartSpec } from "../types.ts";
import { REGRESSION_COLOR, color } from "./palette.ts";

const FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif";

/** The Vega-Lite spec of a chart: the local, offline twin of the quickchart image. */
export function vegaLiteSpec(spec: ChartSpec): TopLevelSpec {
  const rows = spec.series.flatMap((s, i) =>
    s.points.map((p) => {
      const cat = spec.x.categories?.[p.x] ?? "";
      // What a screen reader says of a linked point (Vega's own would list every field, the link too).
      return { series: s.name, order: i, x: p.x, y: p.y, cat, href: p.href ?? null, label: `${s.rings ? "regression" : s.name} at ${cat || p.x}: ${p.y}` };
    }),
  );
  // A connected scatter series (the Pareto front) is drawn as a gray dashed line, not a color;
  // rings (regressions) are drawn in their own color, outside the legend.
  const shown = spec.series.map((s, i) => ({ s, i })).filter(({ s }) => !(spec.kind === "scatter" && s.connect) && !s.rings);
  const names = shown.map(({ s }) => s.name);
  const axis = (a: ChartSpec["x"]) => ({
    title: a.label,
    ...(a.percent ? { axis: { format: ".0%", tickCount: 10 } } : a.integer ? { axis: { format: "d", tickMinStep: 1 } } : {}),
    scale: a.domain
      ? a.scale === "log"
        ? { type: "log" as const, domain: a.domain, nice: false }
        : { type: "linear" as const, domain: a.domain, nice: false, zero: false }
      : a.scale === "log"
        ? { type: "log" as const, nice: true }
        : { type: "linear" as const, zero: false, nice: true },
  });
  // Color, dash and (scatter) fill share the series field and one legend, in the series' order:
  // the legend reads like the table, one line per series, dashed where the chart is.
  const legend =
    names.length > 1
      ? {
          title: null,
          orient: "right" as const,
          labelLimit: 300,
          labelFontSize: 11,
          // Lines in the legend of a line chart (dashes show); points in a scatter plot.
          ...(spec.kind === "scatter" ? { symbolSize: 90, symbolStrokeWidth: 1.8 } : { symbolType: "stroke", symbolSize: 500, symbolStrokeWidth: 2.5 }),
        }
      : null;
  const colorEnc = {
    field: "series",
    type: "nominal" as const,
    scale: { domain: names, range: shown.map(({ s, i }) => color(s.color ?? i)) },
    legend,
  };
  const dashEnc = { field: "series", type: "nominal" as const, scale: { domain: names, range: shown.map(({ s }) => (s.dashed ? [6, 4] : [1, 0])) }, legend };
  const base = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: spec.title, fontSize: 14 },
    width: spec.width,
    height: spec.height,
    background: "white",
    config: { font: FONT, view: { stroke: "#ddd" }, axis: { gridColor: "#eee", labelFontSize: 11, titleFontSize: 12 } },
    data: { values: rows },
  };
  if (spec.kind === "bar") {
    return {
      ...base,
      mark: { type: "bar" },
      encoding: {
        x: { field: "cat", type: "ordinal", sort: null, title: spec.x.label, axis: { labelAngle: 0, labelLimit: 120 } },
        y: { field: "y", type: "quantitative", ...axis(spec.y) },
        color: colorEnc,
      },
    } as TopLevelSpec;
  }
  const categories = spec.x.categories;
  // A line over categories (commits): an ordinal axis in the categories' order, labels turned when many.
  const x =
    spec.kind === "line" && categories
      ? { field: "cat", type: "ordinal" as const, title: spec.x.label, scale: { domain: categories }, axis: { labelAngle: categories.length > 8 ? -50 : 0, labelLimit: 90 } }
      : { field: "x", type: "quantitative" as const, ...axis(spec.x) };
  const y = { field: "y", type: "quantitative" as const, ...axis(spec.y) };
  if (spec.kind === "scatter") {
    const connected = new Set(spec.series.filter((s) => s.connect).map((s) => s.name));
    // Dashed scatter series (fine-tuned runs) are hollow: the method's color, open points.
    const fillEnc = {
      field: "series",
      type: "nominal" as const,
      scale: { domain: names, range: shown.map(({ s, i }) => (s.dashed ? "#ffffff" : color(s.color ?? i))) },
      legend,
    };
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
          mark: { type: "point", filled: true, size: 70, strokeWidth: 1.8, opacity: 1 },
          encoding: { x, y, stroke: colorEnc, fill: fillEnc },
        },
      ],
    } as TopLevelSpec;
  }
  // Points that link somewhere are marks of their own (a line is one path, with one link at most).
  const linked = spec.series.some((s) => s.points.some((p) => p.href));
  const line = {
    mark:
      spec.kind === "step"
        ? { type: "line", interpolate: "step", strokeWidth: 1.5 }
        : { type: "line", strokeWidth: 2, point: !linked && spec.series.every((s) => s.points.length <= 20) },
    encoding: { x, y, color: colorEnc, strokeDash: dashEnc, detail: { field: "series" }, order: { field: "x" } },
  };
  const markers = spec.series.filter((s) => s.markers).map((s) => s.name);
  const rings = spec.series.filter((s) => s.rings).map((s) => s.name);
  if (!markers.length && !rings.length && !linked) return { ...base, ...line } as TopLevelSpec;
  const apart = [...markers, ...rings];
  const layer: object[] = [{ transform: [{ filter: { not: { field: "series", oneOf: apart } } }], ...line }];
  if (linked) {
    layer.push({
      transform: [{ filter: { not: { field: "series", oneOf: apart } } }],
      mark: { type: "point", filled: true, size: 40, opacity: 1, cursor: "pointer" },
      encoding: { x, y, color: colorEnc, href: { field: "href", type: "nominal" }, description: { field: "label", type: "nominal" } },
    });
  }
  // Marker series (the points a budget search found) are drawn over the lines, unjoined.
  if (markers.length) {
    layer.push({ transform: [{ filter: { field: "series", oneOf: markers } }], mark: { type: "point", shape: "diamond", filled: true, size: 110, opacity: 1 }, encoding: { x, y, color: colorEnc } });
  }
  if (rings.length) {
    layer.push({
      transform: [{ filter: { field: "series", oneOf: rings } }],
      mark: { type: "point", shape: "circle", filled: false, size: 330, strokeWidth: 2.5, opacity: 1, color: REGRESSION_COLOR },
      encoding: { x, y, description: { field: "label", type: "nominal" }, ...(linked ? { href: { field: "href", type: "nominal" } } : {}) },
    });
  }
  return { ...base, layer } as TopLevelSpec;
}

/** SVG text of a chart, rendered by Vega in Node: no canvas, no browser, no network. */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  // Loaded on first use: Vega and Vega-Lite are a fifth of the CLI's code, and most commands draw no chart.
  const [vega, { compile }] = await Promise.all([import("vega"), import("vega-lite")]);
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
  // Native and only for PNG files (the CLI's): required on first use, so the bundled Action never needs it.
  const { Resvg } = createRequire(import.meta.url)("@resvg/resvg-js") as typeof ResvgModule;
  const resvg = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
    background: "white",
  });
  return resvg.render().asPng();
}
