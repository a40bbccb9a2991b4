import type { ChartSpec, ReportOptions } from "./types.ts";
import { embedChart } from "./charts/embed.ts";

/** A part of the report that the size fitting can fold or drop as a whole. */
export interface Section {
  id: string;
  /** Plain text (escaped when rendered). */
  title: string;
  level: 2 | 3;
  /** 0 is kept longest; higher numbers are folded, then dropped, first. */
  priority: number;
  body: string;
  /** Whether the fitting may fold or drop it at all. */
  essential?: boolean;
  /** Rendered without its heading (the verdict line under the report's title). */
  untitled?: boolean;
}

/** Collects the report's charts while sections embed them. */
export class ChartCollector {
  readonly specs: ChartSpec[] = [];
  constructor(readonly options: ReportOptions) {}

  /** Embeds the chart (if any) and records it for the files; "" when left out. */
  add(spec: ChartSpec | null): string {
    if (!spec) return "";
    this.specs.push(spec);
    return embedChart(spec, this.options) ?? "";
  }
}

export function join(...blocks: (string | number | null | undefined | false)[]): string {
  return blocks.filter((b): b is string => typeof b === "string" && b.trim() !== "").join("\n\n");
}
