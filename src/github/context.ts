import { readFileSync } from "node:fs";
import { z } from "zod";
import { UserError } from "../errors.ts";

/**
 * What the Actions runner tells a step about the run: GITHUB_* variables and the event
 * payload file. Read from an env object passed in, so tests (and the local CLI) can give
 * their own.
 */
export interface ActionContext {
  eventName: string;
  owner: string;
  repo: string;
  /** Commit the workflow runs on (for pull_request: the test merge commit). */
  sha: string;
  ref: string;
  apiUrl: string;
  serverUrl: string;
  runId: string;
  job: string;
  workflow: string;
  workspace: string;
  pull?: PullRequestRef;
  /** For workflow_run events: the run that produced the artifacts. */
  workflowRun?: { id: number; headSha: string; event: string; conclusion: string | null; headRepo: string | null };
  payload: Record<string, unknown>;
}

export interface PullRequestRef {
  number: number;
  headSha: string;
  baseSha: string;
  baseRef: string;
  /** owner/name of the head repository; differs from the base for forks. */
  headRepo: string | null;
}

export class ContextError extends UserError {}

const PullSchema = z.object({
  number: z.number().int().positive(),
  head: z.object({ sha: z.string(), repo: z.object({ full_name: z.string() }).nullable().optional() }),
  base: z.object({ sha: z.string(), ref: z.string() }),
});

const WorkflowRunSchema = z.object({
  id: z.number(),
  head_sha: z.string(),
  event: z.string(),
  conclusion: z.string().nullable().optional(),
  head_repository: z.object({ full_name: z.string() }).nullable().optional(),
});

export function readActionContext(env: NodeJS.ProcessEnv = process.env): ActionContext {
  const need = (name: string): string => {
    const value = env[name];
    if (!value) throw new ContextError(`${name} is not set: run this inside GitHub Actions, or set it`);
    return value;
  };
  const [owner, repo] = need("GITHUB_REPOSITORY").split("/");
  if (!owner || !repo) throw new ContextError(`GITHUB_REPOSITORY must be owner/name, got '${env.GITHUB_REPOSITORY}'`);
  let payload: Record<string, unknown> = {};
  const eventPath = env.GITHUB_EVENT_PATH;
  if (eventPath) {
    try {
      payload = JSON.parse(readFileSync(eventPath, "utf8")) as Record<string, unknown>;
    } catch (error) {
      throw new ContextError(`GITHUB_EVENT_PATH ${eventPath}: cannot read the event payload: ${(error as Error).message}`);
    }
  }
  const context: ActionContext = {
    eventName: need("GITHUB_EVENT_NAME"),
    owner,
    repo,
    sha: need("GITHUB_SHA"),
    ref: env.GITHUB_REF ?? "",
    apiUrl: env.GITHUB_API_URL ?? "https://api.github.com",
    serverUrl: env.GITHUB_SERVER_URL ?? "https://github.com",
    runId: env.GITHUB_RUN_ID ?? "0",
    job: env.GITHUB_JOB ?? "prunebench",
    workflow: env.GITHUB_WORKFLOW ?? "prunebench",
    workspace: env.GITHUB_WORKSPACE ?? process.cwd(),
    payload,
  };
  if (payload.pull_request !== undefined) {
    const parsed = PullSchema.safeParse(payload.pull_request);
    if (!parsed.success) throw new ContextError(`${eventPath}: pull_request: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    const p = parsed.data;
    context.pull = { number: p.number, headSha: p.head.sha, baseSha: p.base.sha, baseRef: p.base.ref, headRepo: p.head.repo?.full_name ?? null };
  }
  if (payload.workflow_run !== undefined) {
    const parsed = WorkflowRunSchema.safeParse(payload.workflow_run);
    if (!parsed.success) throw new ContextError(`${eventPath}: workflow_run: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    const w = parsed.data;
    context.workflowRun = { id: w.id, headSha: w.head_sha, event: w.event, conclusion: w.conclusion ?? null, headRepo: w.head_repository?.full_name ?? null };
  }
  return context;
}

/** The commit whose results these are: the PR head, not the test merge commit. */
export function resultCommit(context: ActionContext): string {
  return context.pull?.headSha ?? context.workflowRun?.headSha ?? context.sha;
}
