import path from "node:path";
import * as core from "@actions/core";
import { readActionContext, type ActionContext } from "../src/github/context.ts";
import { createOctokit, type Pacing } from "../src/github/octokit.ts";
import { readInputs, type ActionInputs } from "./inputs.ts";
import { actionsLogger, type Logger } from "./log.ts";
import { loadRunConfigs, type RunConfigs } from "./pipeline.ts";
import { runShard } from "./run-shard.ts";
import { publish, describeApiError } from "./publish.ts";

export interface ActionDeps {
  env: NodeJS.ProcessEnv;
  /** The pipeline; loaded from src/pipeline when not given. */
  runConfigs?: RunConfigs;
  log?: Logger;
}

/** Exit codes: 0 done; 1 a step failed (results and summary still written); 2 regression with fail-on-regression. */
export async function runAction(deps: ActionDeps): Promise<number> {
  const log = deps.log ?? actionsLogger;
  let inputs: ActionInputs;
  let context: ActionContext;
  try {
    inputs = readInputs(deps.env);
    if (inputs.token) core.setSecret(inputs.token);
    context = readActionContext(deps.env);
    refuseUntrustedCode(inputs, context);
  } catch (error) {
    log.error((error as Error).message);
    return 1;
  }

  const octokit = inputs.token
    ? createOctokit({ token: inputs.token, baseUrl: context.apiUrl, pacing: pacingFrom(deps.env), warn: log.warning, debug: log.debug })
    : undefined;
  const pipeline = async () => deps.runConfigs ?? (await loadRunConfigs());

  try {
    if (inputs.mode !== "report") {
      // Loaded when runShard first calls it, so that choosing the configs overlaps the install.
      await runShard({ inputs, context, octokit, runConfigs: async (options) => (await pipeline())(options), log, env: deps.env });
    }
    if (inputs.mode === "run") {
      core.setOutput("results-path", path.resolve(context.workspace, inputs.resultsDir));
      return 0;
    }
    const outcome = await publish({ inputs, context, octokit, log, runConfigs: pipeline, quickchartUrl: deps.env.PRUNEBENCH_QUICKCHART_URL });
    if (outcome.failures.length) {
      log.error(`prunebench: results and report are written, but ${outcome.failures.length} step(s) failed: ${outcome.failures.join("; ")}`);
      return 1;
    }
    if (outcome.report.verdict === "regression" && inputs.failOnRegression) {
      log.error(`prunebench: ${outcome.report.title} (fail-on-regression is on)`);
      return 2;
    }
    return 0;
  } catch (error) {
    log.error(`prunebench: ${describeApiError(error)}`);
    if (!(error instanceof Error) || !/^HTTP /.test(describeApiError(error))) log.debug(String((error as Error)?.stack ?? error));
    return 1;
  }
}

/**
 * pull_request_target and workflow_run run with the base repository's token and secrets.
 * Running a PR's configs there runs its models and commands with those rights; only with
 * an explicit opt-in.
 */
function refuseUntrustedCode(inputs: ActionInputs, context: ActionContext): void {
  if (inputs.mode === "report") return;
  if ((context.eventName === "pull_request_target" || context.eventName === "workflow_run") && !inputs.allowPullRequestTarget) {
    throw new Error(
      `refusing to run configs under ${context.eventName}: that event has a write token and secrets, and the PR's code would run with them. ` +
        "Run them in a pull_request workflow with read-only permissions and post from a workflow_run job in mode: report " +
        "(docs/action.md, fork-safe setup), or set allow-pull-request-target: true if every PR is trusted.",
    );
  }
}

/** GHES servers and tests may want other waits than github.com's. */
function pacingFrom(env: NodeJS.ProcessEnv): Partial<Pacing> {
  const out: Partial<Pacing> = {};
  const num = (name: string) => (env[name] !== undefined && env[name] !== "" && Number.isFinite(Number(env[name])) ? Number(env[name]) : undefined);
  const retry = num("PRUNEBENCH_API_RETRY_BASE_MS");
  const gap = num("PRUNEBENCH_API_WRITE_GAP_MS");
  if (retry !== undefined) out.retryBaseMs = retry;
  if (gap !== undefined) out.writeGapMs = gap;
  return out;
}
