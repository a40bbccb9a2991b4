import type { Latency, Result, Run } from "../results/schema.ts";
import type { Comparison, ComparisonState, Thresholds, Verdict, VerdictState } from "./types.ts";
import { compareLatency, latencyMayChange } from "./stats/latency.ts";
import { comparePerplexity } from "./stats/perplexity.ts";
import { escapeText } from "./escape.ts";
import { compareReach } from "./reach.ts";
import { plural } from "./format.ts";

export function latencyKey(l: Pick<Latency, "provider" | "batch" | "seqLen">): string {
  return `${l.provider} b${l.batch} s${l.seqLen}`;
}

export interface CompareOptions {
  /**
   * Only regressions and improvements are wanted (the dashboard): latency comparisons that
   * cannot be either (latencyMayChange) are left out rather than worked out to "no change" or
   * "inconclusive".
   */
  calledOnly?: boolean;
}

const STATES: ComparisonState[] = ["regression", "improvement", "no-change", "inconclusive", "not-comparable"];

/**
 * Every run of the head against the run with the same id in the base of the same model.
 * Latency is compared only on the same runner fingerprint, perplexity only on the same
 * provider (it is deterministic there); anything else is "not comparable", never compared.
 */
export function compareResults(head: Result[], base: Result[] | undefined, thresholds: Thresholds, options: CompareOptions = {}): Verdict {
  const comparisons: Comparison[] = [];
  const missingBase: string[] = [];
  const added: Verdict["added"] = [];
  const removed: Verdict["removed"] = [];
  const failures: Verdict["failures"] = [];
  const baseByModel = new Map((base ?? []).map((r) => [r.model, r]));
  for (const h of head) {
    for (const run of h.runs) if (run.error) failures.push({ model: h.model, runId: run.id, error: run.error });
    const b = baseByModel.get(h.model);
    if (!b) {
      missingBase.push(h.model);
      continue;
    }
    // Budget search points move with the bracket: their reach is compared instead, not each point.
    const baseRuns = new Map(b.runs.filter((run) => !run.search).map((run) => [run.id, run]));
    for (const run of h.runs) {
      if (run.search) continue;
      const other = baseRuns.get(run.id);
      if (!other) added.push({ model: h.model, runId: run.id });
      else comparisons.push(...compareRun({ model: h.model, head: run, base: other, headResult: h, baseResult: b, thresholds, calledOnly: options.calledOnly }));
    }
    comparisons.push(...compareReach(h, b, thresholds));
    const headIds = new Set(h.runs.map((r) => r.id));
    for (const run of b.runs) if (!run.search && !headIds.has(run.id)) removed.push({ model: h.model, runId: run.id });
  }
  const counts = Object.fromEntries(STATES.map((s) => [s, comparisons.filter((c) => c.state === s).length])) as Record<ComparisonState, number>;
  const hasBase = base !== undefined && base.length > 0;
  const state = overallState(counts, comparisons.length);
  const verdict: Verdict = { state, summary: "", comparisons, counts, missingBase, added, removed, failures, hasBase };
  verdict.summary = summarize(verdict);
  return verdict;
}

function compareRun(args: { model: string; head: Run; base: Run; headResult: Result; baseResult: Result; thresholds: Thresholds; calledOnly?: boolean }): Comparison[] {
  const { model, head, base, headResult, baseResult, thresholds, calledOnly } = args;
  const out: Comparison[] = [];
  if (head.perplexity && base.perplexity) {
    const common = { model, runId: head.id, metric: "perplexity" as const, key: head.perplexity.dataset, base: base.perplexity.token, head: head.perplexity.token };
    if (headResult.runner.provider !== baseResult.runner.provider) {
      out.push({ ...common, state: "not-comparable", change: null, reason: `provider differs (${baseResult.runner.provider} vs ${headResult.runner.provider})` });
    } else {
      const v = comparePerplexity(base.perplexity, head.perplexity, thresholds.perplexity);
      out.push({ ...common, state: v.state, change: v.change, reason: v.reason });
    }
  }
  const sameRunner = headResult.runner.fingerprint === baseResult.runner.fingerprint;
  const baseLatency = new Map(base.latency.map((l) => [latencyKey(l), l]));
  for (const l of head.latency) {
    const other = baseLatency.get(latencyKey(l));
    if (!other) continue;
    const common = { model, runId: head.id, metric: "latency" as const, key: latencyKey(l), base: other.p50, head: l.p50 };
    if (!sameRunner) {
      out.push({
        ...common,
        state: "not-comparable",
        change: null,
        reason: `runner differs (${baseResult.runner.fingerprint} vs ${headResult.runner.fingerprint})`,
      });
      continue;
    }
    if (calledOnly && !latencyMayChange(other.samplesMs, l.samplesMs, thresholds.latency)) continue;
    const v = compareLatency(other.samplesMs, l.samplesMs, thresholds.latency);
    out.push({
      ...common,
      state: v.state,
      change: Number.isFinite(v.change) ? v.change : null,
      ...(Number.isFinite(v.interval[0]) ? { interval: v.interval } : {}),
      ...(Number.isFinite(v.pValue) ? { pValue: v.pValue } : {}),
      reason: v.reason,
    });
  }
  return out;
}

function overallState(counts: Record<ComparisonState, number>, total: number): VerdictState {
  if (total === 0) return "no-base";
  if (counts.regression) return "regression";
  if (counts.improvement) return "improvement";
  if (counts["not-comparable"] === total) return "not-comparable";
  if (counts["no-change"] === 0) return "inconclusive";
  return "no-change";
}

export const STATE_ICON: Record<VerdictState, string> = {
  regression: "🔴",
  improvement: "🟢",
  "no-change": "⚪",
  inconclusive: "🟡",
  "not-comparable": "⚫",
  "no-base": "⚪",
};

export const STATE_LABEL: Record<VerdictState, string> = {
  regression: "regression",
  improvement: "improvement",
  "no-change": "no change",
  inconclusive: "inconclusive",
  "not-comparable": "not comparable",
  "no-base": "no base",
};

/** The one-line verdict, safe for Markdown. */
function summarize(v: Verdict): string {
  const parts: string[] = [];
  if (!v.hasBase) parts.push("no base results to compare with");
  else if (v.comparisons.length === 0) parts.push("nothing in common with the base to compare");
  else {
    const c = v.counts;
    const bits = [
      c.regression && plural(c.regression, "regression"),
      c.improvement && plural(c.improvement, "improvement"),
      c["no-change"] && `${c["no-change"]} unchanged`,
      c.inconclusive && `${c.inconclusive} inconclusive`,
      c["not-comparable"] && `${c["not-comparable"]} not comparable`,
    ].filter(Boolean);
    parts.push(`${bits.join(", ")} (of ${plural(v.comparisons.length, "comparison")})`);
  }
  if (v.hasBase && v.missingBase.length) parts.push(`no base for ${v.missingBase.map((m) => escapeText(m, { max: 40 })).join(", ")}`);
  // A fall in reach is the headline a model PR cares about: name it in the verdict line.
  const fell = v.comparisons.filter((c) => c.metric === "reach" && c.state === "regression");
  if (fell.length) parts.push(fell.slice(0, 3).map((c) => escapeText(c.reason, { max: 120 })).join("; "));
  if (v.failures.length) parts.push(`${plural(v.failures.length, "run")} failed`);
  return `${STATE_ICON[v.state]} **${STATE_LABEL[v.state]}**: ${parts.join("; ")}`;
}
