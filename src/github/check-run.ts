import type { GitHub } from "./octokit.ts";
import type { Verdict } from "./report.ts";

export interface CheckRunOptions {
  octokit: GitHub;
  owner: string;
  repo: string;
  headSha: string;
  name: string;
  verdict: Verdict;
  failOnRegression: boolean;
  /** Publishing steps that failed before the check run (the job exits 1): the check then fails too. */
  failedSteps?: string[];
  /** One-line summary shown in the checks list; the full report is the text. */
  title: string;
  text: string;
  detailsUrl?: string;
}

/** Check-run output text is capped at 65,535 characters by the API. */
const CHECK_TEXT_LIMIT = 65_535;

export async function createCheckRun(options: CheckRunOptions): Promise<{ id: number; url: string }> {
  const { octokit, owner, repo } = options;
  const failed = options.failedSteps ?? [];
  const conclusion = failed.length || (options.verdict === "regression" && options.failOnRegression) ? "failure" : options.verdict === "regression" ? "neutral" : "success";
  const summary = failed.length ? `${options.title}. Publishing failed: ${failed.join("; ")} (see the job's log).` : options.title;
  const text = options.text.length > CHECK_TEXT_LIMIT ? `${options.text.slice(0, CHECK_TEXT_LIMIT - 40)}\n\n(truncated; see the job summary)` : options.text;
  const { data } = await octokit.rest.checks.create({
    owner,
    repo,
    name: options.name,
    head_sha: options.headSha,
    status: "completed",
    conclusion,
    details_url: options.detailsUrl,
    output: { title: options.title.slice(0, 255), summary, text },
  });
  return { id: data.id, url: data.html_url ?? "" };
}
