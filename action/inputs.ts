import { parseStoreSpec, type StoreSpec } from "../src/github/store/index.ts";
import type { Thresholds } from "../src/github/report.ts";
import { UserError } from "../src/errors.ts";

/** The action.yml inputs, parsed and checked once; every error names the input. */
export interface ActionInputs {
  mode: "run" | "report" | "run-and-report";
  configs: string[];
  allConfigs: boolean;
  token: string;
  resultsDir: string;
  store: StoreSpec;
  baseline: "merge-base" | "merge-base-or-run" | "none";
  failOnRegression: boolean;
  thresholds: Thresholds;
  providers: "auto" | Array<"cpu" | "cuda">;
  charts: "quickchart" | "mermaid" | "none";
  comment: boolean;
  commentKey: string;
  summary: boolean;
  checkRun: boolean;
  allowPullRequestTarget: boolean;
  shard: string;
  pullRequest?: number;
  /** The history page: none, written beside the report (artifact), or also committed to a branch (gh-pages). */
  dashboard: "none" | "artifact" | "gh-pages";
  dashboardBranch: string;
}

/** Every input readInputs reads; action.yml declares exactly these (a test checks). */
export const INPUT_NAMES = [
  "mode", "configs", "all-configs", "github-token", "results-dir", "results-store", "baseline", "fail-on-regression", "thresholds",
  "providers", "charts", "comment", "comment-key", "summary", "check-run", "shard", "pull-request", "allow-pull-request-target",
  "dashboard", "dashboard-branch",
] as const;

export class InputError extends UserError {
  constructor(readonly input: string, message: string) {
    super(`input '${input}': ${message}`, { field: input });
  }
}

/** As @actions/core reads them: INPUT_<NAME> with spaces as '_', upper case, trimmed. */
export function getInput(env: NodeJS.ProcessEnv, name: string): string {
  return (env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] ?? "").trim();
}

export function readInputs(env: NodeJS.ProcessEnv): ActionInputs {
  const get = (name: string, fallback = "") => getInput(env, name) || fallback;
  const bool = (name: string, fallback: boolean): boolean => {
    const v = get(name, String(fallback)).toLowerCase();
    if (["true", "yes", "on", "1"].includes(v)) return true;
    if (["false", "no", "off", "0"].includes(v)) return false;
    throw new InputError(name, `expected true or false, got '${v}'`);
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const v = get(name, fallback);
    if (!(allowed as readonly string[]).includes(v)) throw new InputError(name, `expected one of ${allowed.join(", ")}, got '${v}'`);
    return v as T;
  };
  const list = (name: string, fallback: string) =>
    get(name, fallback)
      .split(/[\n,]/)
      .map((s) => s.trim())
      .filter(Boolean);

  const configs = list("configs", "models/*.yml");
  let store: StoreSpec;
  try {
    store = parseStoreSpec(get("results-store", "branch:prunebench-results"));
  } catch (error) {
    throw new InputError("results-store", (error as Error).message.replace(/^results-store: /, ""));
  }
  const providersText = list("providers", "auto");
  let providers: ActionInputs["providers"] = "auto";
  if (!(providersText.length === 1 && providersText[0] === "auto")) {
    for (const p of providersText) if (p !== "cpu" && p !== "cuda") throw new InputError("providers", `expected 'auto' or a list of cpu, cuda; got '${p}'`);
    providers = providersText as Array<"cpu" | "cuda">;
  }
  const pr = get("pull-request");
  if (pr && !/^\d+$/.test(pr)) throw new InputError("pull-request", `expected a pull request number, got '${pr}'`);
  const shard = get("shard", env.GITHUB_JOB ?? "main");
  if (!/^[\w.-]+$/.test(shard)) throw new InputError("shard", `may hold only letters, digits, '.', '_' and '-', got '${shard}'`);
  const dashboardBranch = get("dashboard-branch", "gh-pages");
  if (!/^[\w./-]+$/.test(dashboardBranch) || dashboardBranch.includes("..") || dashboardBranch.startsWith("-")) throw new InputError("dashboard-branch", `'${dashboardBranch}' is not a usable branch name`);
  if (store.kind === "branch" && store.branch === dashboardBranch) throw new InputError("dashboard-branch", `'${dashboardBranch}' is the results store's branch; give the page a branch of its own`);
  return {
    mode: oneOf("mode", ["run", "report", "run-and-report"] as const, "run-and-report"),
    configs,
    allConfigs: bool("all-configs", false),
    token: get("github-token"),
    resultsDir: get("results-dir", "prunebench-results"),
    store,
    baseline: oneOf("baseline", ["merge-base", "merge-base-or-run", "none"] as const, "merge-base"),
    failOnRegression: bool("fail-on-regression", true),
    thresholds: parseThresholds(get("thresholds")),
    providers,
    charts: oneOf("charts", ["quickchart", "mermaid", "none"] as const, "quickchart"),
    comment: bool("comment", true),
    commentKey: get("comment-key", configs.join(",")),
    summary: bool("summary", true),
    checkRun: bool("check-run", true),
    allowPullRequestTarget: bool("allow-pull-request-target", false),
    shard,
    pullRequest: pr ? Number(pr) : undefined,
    dashboard: oneOf("dashboard", ["none", "artifact", "gh-pages"] as const, "none"),
    dashboardBranch,
  };
}

/** "perplexity=2%, latency=10%, reach=5%" (or 0.02): overrides of the configs' regression thresholds (reach: a fall in sparsity points). */
export function parseThresholds(text: string): Thresholds {
  const out: Thresholds = {};
  for (const part of text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean)) {
    const m = /^(perplexity|latency|reach)\s*[=:]\s*(\d+(?:\.\d+)?)(%?)$/.exec(part);
    if (!m) throw new InputError("thresholds", `expected entries like 'perplexity=1%', 'latency=0.05' or 'reach=2%', got '${part}'`);
    out[m[1] as keyof Thresholds] = Number(m[2]) / (m[3] ? 100 : 1);
  }
  return out;
}
