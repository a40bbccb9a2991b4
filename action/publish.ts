import path from "node:path";
import * as core from "@actions/core";
import { describeError } from "../src/errors.ts";
import { writeFileAtomic } from "../src/util/atomic.ts";
import type { Result } from "../src/results/schema.ts";
import type { ActionContext } from "../src/github/context.ts";
import { resultCommit } from "../src/github/context.ts";
import type { GitHub } from "../src/github/octokit.ts";
import { mergeShards, readManifests, readResultFiles, shardFileName } from "../src/github/results-files.ts";
import { findMergeBase, loadBaseline } from "../src/github/baseline.ts";
import { openStore, type ResultsStore } from "../src/github/store/index.ts";
import { renderPrReportWithShortUrls, renderShortReport, writePrReportFiles, type PrReport } from "../src/github/report.ts";
import { writeJobSummary } from "../src/github/summary.ts";
import { commentMarker, isBodyTooLong, upsertComment } from "../src/github/comment.ts";
import { createCheckRun } from "../src/github/check-run.ts";
import type { ActionInputs } from "./inputs.ts";
import type { Logger } from "./log.ts";
import type { RunConfigs } from "./pipeline.ts";
import { runBase } from "./run-base.ts";
import { publishDashboard } from "./dashboard.ts";

export interface PublishOptions {
  inputs: ActionInputs;
  context: ActionContext;
  octokit?: GitHub;
  log: Logger;
  /** Only for baseline: merge-base-or-run. */
  runConfigs?: () => Promise<RunConfigs>;
  /** quickchart for short chart URLs (PRUNEBENCH_QUICKCHART_URL): its address, or "off" for long URLs only. */
  quickchartUrl?: string;
}

export interface PublishOutcome {
  report: PrReport;
  reportPath: string;
  commentUrl?: string;
  /** Steps that failed (API errors); the results and summary are written regardless. */
  failures: string[];
}

/**
 * Merges every shard's results, compares with the merge base, and publishes. The order is
 * the point: report file, job summary and outputs first (local, cannot fail on the API),
 * then the store, the comment and the check run, each on its own so one failure does not
 * stop the others.
 */
export async function publish(options: PublishOptions): Promise<PublishOutcome> {
  const { inputs, context, octokit, log } = options;
  const failures: string[] = [];
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (error) {
      failures.push(what);
      log.error(`${what} failed: ${describeApiError(error)}`);
      return undefined;
    }
  };

  const resultsRoot = path.resolve(context.workspace, inputs.resultsDir);
  const files = readResultFiles(resultsRoot);
  const { results, warnings } = mergeShards(files);
  for (const w of warnings) log.warning(w);
  log.info(`${files.length} result file(s) from ${new Set(files.map((f) => f.result.shard ?? "")).size} shard(s): ${results.length} model(s)`);

  const failedBefore = failures.length;
  const target = await attempt("finding the pull request", () => pullTarget(options));
  // Results whose PR could not be confirmed are reported in the job only, never posted or stored.
  const unconfirmed = failures.length > failedBefore;
  const commit = target?.headSha ?? resultCommit(context);
  const fingerprints = [...new Set(results.map((r) => r.runner.fingerprint))];
  const store = await attempt("opening the results store", async () => openStore(inputs.store, { octokit, owner: context.owner, repo: context.repo, log: log.info }));

  // Baseline: the merge base's results on the same runner fingerprint.
  let base: Result[] | undefined;
  let baseNote: string | undefined;
  if (inputs.baseline === "none") baseNote = "baseline comparison is off (baseline: none)";
  else if (!store) baseNote = "no results store configured (results-store: none)";
  else if (results.length === 0) baseNote = "no results in this run";
  else {
    const baseCommit = await attempt("finding the merge base", () => baseCommitOf(options, target));
    if (baseCommit === undefined) baseNote = failures.length ? "the merge base could not be found (API error, see the log)" : "this run has no base commit to compare with";
    else {
      for (const fingerprint of fingerprints) {
        const found = await attempt("loading the baseline", () => loadBaseline({ store, commit: baseCommit, fingerprint }));
        if (found === undefined) {
          baseNote = "the baseline could not be loaded (API error, see the log)";
          continue;
        }
        for (const w of found.warnings) log.warning(w);
        if (found.results) base = [...(base ?? []), ...found.results];
        else baseNote = found.note;
      }
      if (!base && inputs.baseline === "merge-base-or-run" && options.runConfigs) {
        const ran = await attempt("running the merge base", async () => runBase({ context, inputs, commit: baseCommit, runConfigs: await options.runConfigs!(), log }));
        if (ran && ran.length) {
          base = ran;
          baseNote = undefined;
          await attempt("storing the merge base's results", () => save(store, baseCommit, ran, log));
        }
      }
    }
  }

  const runUrl = `${context.serverUrl}/${context.owner}/${context.repo}/actions/runs/${context.runId}`;
  const report = await renderPrReportWithShortUrls({
    results,
    base,
    baseNote,
    thresholds: inputs.thresholds,
    id: inputs.commentKey,
    charts: inputs.charts,
    artifactUrl: runUrl,
  }, { baseUrl: options.quickchartUrl, timeoutMs: 10_000, enabled: options.quickchartUrl !== "off" });
  if (report.note) log.info(report.note);
  const reportDir = path.join(resultsRoot, "report");
  let reportPath = path.join(reportDir, "report.md");
  try {
    reportPath = await writePrReportFiles(reportDir, report);
  } catch (error) {
    // Charts that fail to render must not cost the report itself.
    log.error(`writing the report's chart files failed: ${describeApiError(error)}`);
    failures.push("writing chart files");
    writeFileAtomic(reportPath, report.markdown);
  }
  if (inputs.summary) await writeJobSummary(report.markdown);
  core.setOutput("verdict", report.verdict);
  core.setOutput("results-path", resultsRoot);
  core.setOutput("report-path", reportPath);
  log.info(report.title);

  if (unconfirmed) {
    log.error("the pull request of these results could not be confirmed: nothing stored, commented or checked");
    return { report, reportPath, failures };
  }
  const writable = canWrite(context);
  if (!writable) {
    log.warning(
      "this pull request comes from a fork, so its token is read-only: the results store, the PR comment and the check run are skipped. " +
        "Post them from a workflow_run job in mode: report (docs/action.md, fork-safe setup).",
    );
    return { report, reportPath, failures };
  }
  if (store && results.length) {
    await attempt(`saving results to the ${store.description}`, () => save(store, commit, results, log));
  }
  if (inputs.dashboard !== "none") await attempt("publishing the dashboard", () => publishDashboard({ inputs, context, octokit, store, resultsRoot, log }));
  let commentUrl: string | undefined;
  if (inputs.comment && target && octokit) {
    const comment = { octokit, owner: context.owner, repo: context.repo, issue: target.number, marker: commentMarker(inputs.commentKey) };
    const done = await attempt("posting the PR comment", async () => {
      try {
        return await upsertComment({ ...comment, body: report.markdown });
      } catch (error) {
        if (!isBodyTooLong(error)) throw error;
        log.warning(`the PR comment was refused for its size (${describeApiError(error)}); posting a short one that links to the job summary and the artifact`);
        return upsertComment({ ...comment, body: renderShortReport(report, { runUrl }, comment.marker) });
      }
    });
    if (done) {
      commentUrl = done.url;
      core.setOutput("comment-url", done.url);
      log.info(`PR comment ${done.action}: ${done.url}`);
    }
  } else if (inputs.comment && !target) log.info("not a pull request: no comment");
  if (inputs.checkRun && octokit) {
    // Made last, so that it can say which publishing steps failed: the job then exits 1, and the check must not say success.
    const failedSteps = [...failures];
    await attempt("creating the check run", () =>
      createCheckRun({ octokit, owner: context.owner, repo: context.repo, headSha: commit, name: `prunebench (${inputs.commentKey})`.slice(0, 100), verdict: report.verdict, failOnRegression: inputs.failOnRegression, failedSteps, title: report.title, text: report.markdown, detailsUrl: runUrl }),
    );
  }
  return { report, reportPath, commentUrl, failures };
}

async function save(store: ResultsStore, commit: string, results: Result[], log: Logger): Promise<void> {
  for (const fingerprint of new Set(results.map((r) => r.runner.fingerprint))) {
    const files = results.filter((r) => r.runner.fingerprint === fingerprint).map((r) => ({ name: shardFileName({ model: r.model }), content: `${JSON.stringify({ ...r, commit }, null, 2)}\n` }));
    await store.save({ commit, fingerprint }, files);
    log.info(`saved ${files.length} result(s) for ${commit.slice(0, 12)} on ${fingerprint} to the ${store.description}`);
  }
}

/**
 * A pull_request run from a fork gets a read-only token: writes would only fail. Its
 * results reach the store and the PR through the trusted workflow_run job instead.
 */
function canWrite(context: ActionContext): boolean {
  if (context.eventName !== "pull_request" || !context.pull) return true;
  return context.pull.headRepo === null || context.pull.headRepo === `${context.owner}/${context.repo}`;
}

interface PullTarget {
  number: number;
  headSha: string;
  baseSha: string;
}

/**
 * Which PR to post on. Under workflow_run the number comes from the untrusted job's manifest,
 * so it is checked against the API: the PR's head must be the commit that workflow ran on,
 * or an artifact could steer the comment to any PR.
 */
async function pullTarget(options: PublishOptions): Promise<PullTarget | undefined> {
  const { context, inputs, octokit } = options;
  if (context.pull) return { number: context.pull.number, headSha: context.pull.headSha, baseSha: context.pull.baseSha };
  const manifests = readManifests(path.resolve(context.workspace, inputs.resultsDir));
  const claimed = inputs.pullRequest ?? manifests.find((m) => m.pull !== undefined)?.pull;
  if (claimed === undefined) return undefined;
  if (!octokit) throw new Error(`PR #${claimed}: a github-token is needed to check it`);
  const { data } = await octokit.rest.pulls.get({ owner: context.owner, repo: context.repo, pull_number: claimed });
  const expected = context.workflowRun?.headSha ?? manifests[0]?.commit;
  if (expected && data.head.sha !== expected) {
    throw new Error(`PR #${claimed} is at ${data.head.sha.slice(0, 12)}, but the results are for ${expected.slice(0, 12)}; refusing to post them there`);
  }
  return { number: claimed, headSha: data.head.sha, baseSha: data.base.sha };
}

async function baseCommitOf(options: PublishOptions, target: PullTarget | undefined): Promise<string | undefined> {
  const { context, octokit } = options;
  if (target) {
    if (!octokit) throw new Error("a github-token is needed to find the merge base");
    return findMergeBase({ octokit, owner: context.owner, repo: context.repo, base: target.baseSha, head: target.headSha });
  }
  const before = context.payload.before;
  return typeof before === "string" && !/^0+$/.test(before) ? before : undefined;
}

/**
 * An Octokit/HTTP error on one line: the HTTP status, GitHub's message and its errors[].message
 * (a 422 says there why: "body is too long (maximum is 65536 characters)"), never the request's
 * headers (the token). Anything else (a file-system error, a user error) is described as the CLI
 * describes it (src/errors.ts), its lines joined.
 */
export function describeApiError(error: unknown): string {
  const e = error as { status?: number; message?: string; response?: { data?: { message?: string; errors?: Array<{ message?: string; code?: string; field?: string } | string> } } };
  if (typeof e?.status !== "number") return describeError(error).lines.join("; ");
  const data = e.response?.data;
  const reasons = (Array.isArray(data?.errors) ? data.errors : [])
    .map((x) => (typeof x === "string" ? x : (x.message ?? [x.field, x.code].filter(Boolean).join(" "))))
    .filter(Boolean);
  const message = data?.message ?? e.message ?? "no message";
  return `HTTP ${e.status}: ${message}${reasons.length ? ` (${reasons.join("; ")})` : ""}`;
}
