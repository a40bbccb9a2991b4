/**
 * The GitHub layer: every function receives the Octokit client made once by createOctokit,
 * so tests point the real client at a local server.
 */
export { createOctokit, GITHUB_PACING, type GitHub, type Pacing } from "./octokit.ts";
export { readActionContext, resultCommit, ContextError, type ActionContext, type PullRequestRef } from "./context.ts";
export { findChangedConfigs, type ChangedFile } from "./changed-configs.ts";
export { commentMarker, findComment, upsertComment, COMMENT_LIMIT } from "./comment.ts";
export { createCheckRun } from "./check-run.ts";
export { writeJobSummary } from "./summary.ts";
export { findMergeBase, loadBaseline, type Baseline } from "./baseline.ts";
export { readResultFiles, mergeShards, readManifests, shardFileName, MANIFEST_NAME, type Manifest } from "./results-files.ts";
export { parseResult, ResultFileError } from "../results/read.ts";
export { renderPrReport, renderPrReportWithShortUrls, writePrReportFiles, type PrReport, type Verdict, type Thresholds } from "./report.ts";
export { BranchStore, DirStore, openStore, parseStoreSpec, type ResultsStore, type StoreKey, type StoredFile, type StoreSpec } from "./store/index.ts";
