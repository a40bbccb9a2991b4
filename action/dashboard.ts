import path from "node:path";
import * as core from "@actions/core";
import type { ActionContext } from "../src/github/context.ts";
import type { GitHub } from "../src/github/octokit.ts";
import type { ResultsStore } from "../src/github/store/index.ts";
import { commitFiles } from "../src/github/commit-files.ts";
import { reportThresholds } from "../src/github/report.ts";
import { resolveThresholds } from "../src/report/options.ts";
import { buildDashboard, gitHistory, writeDashboard, type CommitOrder } from "../src/dashboard/index.ts";
import type { ActionInputs } from "./inputs.ts";
import type { Logger } from "./log.ts";

export interface DashboardOutcome {
  file: string;
  /** The commit on the dashboard branch; undefined when none was made (artifact, a PR, unchanged). */
  commit?: string;
}

/**
 * dashboard: artifact | gh-pages. The page is built from the results store (after this run's
 * results are saved to it) in the order of the checkout's first-parent history, written to
 * <results-dir>/dashboard/index.html (the artifact), and for gh-pages committed to the
 * dashboard branch through the git data API: one commit a publish, index.html updated in
 * place, nothing when it did not change. Pull requests never publish the branch: their page
 * would show their own history as if it were the branch's.
 */
export async function publishDashboard(options: { inputs: ActionInputs; context: ActionContext; octokit?: GitHub; store?: ResultsStore; resultsRoot: string; log: Logger }): Promise<DashboardOutcome | undefined> {
  const { inputs, context, octokit, store, log } = options;
  if (!store) {
    log.warning("dashboard: there is no results store to read the history from (results-store: none); no dashboard");
    return undefined;
  }
  const dashboard = await buildDashboard({
    store,
    order: checkoutOrder(context.workspace, log),
    repo: { serverUrl: context.serverUrl, owner: context.owner, repo: context.repo },
    thresholds: resolveThresholds(reportThresholds(inputs.thresholds)),
  });
  for (const w of dashboard.history.warnings) log.warning(`dashboard: ${w}`);
  const file = writeDashboard(path.join(options.resultsRoot, "dashboard"), dashboard);
  core.setOutput("dashboard-path", file);
  const { history, changes } = dashboard;
  log.info(`dashboard: ${history.commits.length} commit(s) on ${history.runners.length} runner(s), ${changes.filter((c) => c.comparison.state === "regression").length} regression(s) marked: ${file}`);
  if (inputs.dashboard !== "gh-pages") return { file };
  if (context.pull || context.eventName.startsWith("pull_request") || context.workflowRun?.event.startsWith("pull_request")) {
    log.info(`dashboard: ${inputs.dashboardBranch} is published from runs on a branch (push, schedule, workflow_dispatch), not from pull requests; this run's page is ${file}`);
    return { file };
  }
  if (!octokit) throw new Error(`dashboard: a github-token (contents: write) is needed to publish ${inputs.dashboardBranch}`);
  const done = await commitFiles({
    octokit,
    owner: context.owner,
    repo: context.repo,
    branch: inputs.dashboardBranch,
    files: [
      { path: "index.html", content: dashboard.html },
      // GitHub Pages serves the file as it is, without a Jekyll build.
      { path: ".nojekyll", content: "" },
    ],
    message: `prunebench dashboard at ${context.sha.slice(0, 12)}`,
    skipUnchanged: true,
    log: (m) => log.info(`dashboard: ${m}`),
  });
  log.info(done.created ? `dashboard: published to ${inputs.dashboardBranch} (${done.sha.slice(0, 12)})` : `dashboard: ${inputs.dashboardBranch} already shows this page`);
  return { file, ...(done.created ? { commit: done.sha } : {}) };
}

/** The checkout's history, or none (with the reason in the log) when it cannot give the order. */
function checkoutOrder(workspace: string, log: Logger): CommitOrder | undefined {
  try {
    const history = gitHistory(workspace);
    if (!history.shallow) return history;
    log.warning("dashboard: the checkout is shallow (actions/checkout's fetch-depth: 1), so its history cannot order the commits; they are ordered by when their results were made. Set fetch-depth: 0.");
  } catch (error) {
    log.warning(`dashboard: no git history in the workspace (${(error as Error).message}); commits are ordered by when their results were made`);
  }
  return undefined;
}
