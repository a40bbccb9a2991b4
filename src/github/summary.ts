import { summary } from "@actions/core";

/**
 * The report in the job summary (GITHUB_STEP_SUMMARY). Written before any API call, so a
 * failing API still leaves the report on the run page. GitHub caps a step's summary at 1 MiB.
 */
export async function writeJobSummary(markdown: string): Promise<boolean> {
  if (!process.env.GITHUB_STEP_SUMMARY) return false;
  await summary.addRaw(markdown, true).write();
  summary.emptyBuffer();
  return true;
}
