/**
 * The dashboard: history over commits from a results store, as one static page (index.html,
 * charts inline as SVG, no script, nothing fetched). The CLI's `prunebench dashboard` and the
 * Action's `dashboard` input both end here.
 */
import path from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { renderSvg } from "../report/charts/vega.ts";
import type { Thresholds } from "../report/types.ts";
import type { ResultsStore } from "../github/store/types.ts";
import { findChanges, type Change } from "./changes.ts";
import { modelCharts } from "./charts.ts";
import { loadHistory, type History } from "./history.ts";
import { renderPage, type RenderedChart } from "./html.ts";
import { commitUrl, type RepoRef } from "./links.ts";
import type { CommitOrder } from "./order.ts";

export { gitHistory, readCommitsFile, type CommitInfo, type CommitOrder, type GitHistory } from "./order.ts";
export { parseRepo, commitUrl, type RepoRef } from "./links.ts";
export { loadHistory, type History } from "./history.ts";
export { findChanges, type Change } from "./changes.ts";

export interface DashboardOptions {
  store: ResultsStore;
  order?: CommitOrder;
  /** At most this many commits, the newest (default 50). */
  last?: number;
  repo?: RepoRef;
  thresholds: Thresholds;
  title?: string;
}

export interface Dashboard {
  html: string;
  history: History;
  changes: Change[];
  charts: number;
}

export async function buildDashboard(options: DashboardOptions): Promise<Dashboard> {
  const history = await loadHistory({ store: options.store, order: options.order, last: options.last });
  const changes = findChanges(history, options.thresholds);
  const charts = new Map<string, Array<{ model: string; charts: RenderedChart[] }>>();
  let count = 0;
  for (const runner of history.runners) {
    const models = [];
    for (const m of modelCharts(runner, changes, (sha) => commitUrl(options.repo, sha))) {
      const rendered: RenderedChart[] = [];
      for (const spec of m.charts) rendered.push({ spec, svg: await renderSvg(spec) });
      count += rendered.length;
      models.push({ model: m.model, charts: rendered });
    }
    charts.set(runner.fingerprint, models);
  }
  const html = renderPage({ title: options.title ?? "prunebench dashboard", repo: options.repo, store: options.store.description, history, changes, thresholds: options.thresholds, charts });
  return { html, history, changes, charts: count };
}

/** Writes `dir/index.html` atomically; returns its path. */
export function writeDashboard(dir: string, dashboard: Pick<Dashboard, "html">): string {
  const file = path.join(dir, "index.html");
  writeFileAtomic(file, dashboard.html);
  return file;
}
