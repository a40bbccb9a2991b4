import type { BudgetSearchRecord, Result } from "../../results/schema.ts";
import type { Comparison, Verdict } from "../types.ts";
import type { ChartCollector, Section } from "../section.ts";
import { join } from "../section.ts";
import { escapeText } from "../escape.ts";
import { fmtChange, fmtPercent } from "../format.ts";
import { table } from "../markdown.ts";
import { STATE_ICON } from "../compare.ts";
import { budgetChart } from "../charts/budget.ts";
import { chartId } from "../charts/build.ts";
import { budgetKey, searchName } from "../reach.ts";

function reach(s: BudgetSearchRecord): string {
  if (s.error) return "failed";
  return s.within.sparsity > 0 ? fmtPercent(s.within.sparsity) : `none (${fmtPercent(s.beyond?.sparsity)} exceeds it)`;
}

const byReach = (a: BudgetSearchRecord, b: BudgetSearchRecord) => b.within.sparsity - a.within.sparsity;

/** "within +2% perplexity: SparseGPT 47%, Wanda 41%, magnitude 33% (fine-tuned: ...)". */
export function budgetHeadline(result: Result): string {
  const b = result.budget!;
  const uniform = b.searches.filter((s) => s.allocation === "uniform");
  const list = (xs: BudgetSearchRecord[]) => [...xs].sort(byReach).map((s) => `${escapeText(s.label === s.method ? searchName({ ...s, finetuned: false }) : s.label, { max: 60 })} ${reach(s)}`).join(", ");
  const plain = uniform.filter((s) => !s.finetuned);
  const tuned = uniform.filter((s) => s.finetuned);
  const allocated = b.searches.filter((s) => s.allocation !== "uniform").map((s) => {
    const same = plain.find((p) => p.method === s.method);
    return `${escapeText(searchName(s), { max: 60 })} ${reach(s)}${same ? ` (uniform ${reach(same)})` : ""}`;
  });
  return (
    `**${escapeText(result.model, { max: 60 })}, within ${escapeText(budgetKey(b))}:** ${list(plain)}` +
    (tuned.length ? ` (fine-tuned: ${list(tuned)})` : "") +
    (allocated.length ? `; per-layer sparsities from the sensitivity scan: ${allocated.join(", ")}` : "") +
    "."
  );
}

function point(p: { sparsity: number; increase: number } | null): string {
  return p ? `${fmtPercent(p.sparsity)} (${fmtChange(p.increase, 2)})` : "100% (not measured)";
}

function searchTable(result: Result): string {
  const rows = result.budget!.searches.map((s) => [
    escapeText(searchName(s), { max: 80 }),
    s.error ? "failed" : `**${reach(s)}**`,
    s.error ? escapeText(s.error, { max: 200 }) : `${point(s.within)} … ${point(s.beyond)}`,
    fmtPercent(s.achieved, 1),
    `${s.evaluations}${s.reused ? ` (+${s.reused} from the sweep)` : ""}`,
  ]);
  return table(["method", "reach", "bracket: within … beyond", "achieved", "evaluations"], rows, ["l", "r", "l", "r", "r"]);
}

function layersLine(result: Result): string {
  return result
    .budget!.searches.filter((s) => s.layers?.length)
    .map((s) => `${escapeText(searchName(s), { max: 60 })} at ${fmtPercent(s.within.sparsity)}: ${s.layers!.map((l) => `${escapeText(l.part)} ${l.layer} ${fmtPercent(l.sparsity, 1)}`).join(", ")}.`)
    .join("\n\n");
}

/** The reach comparisons of one model against the base, worst first. */
function reachLines(comparisons: Comparison[]): string {
  return comparisons.map((c) => `${STATE_ICON[c.state]} ${escapeText(c.reason, { max: 200 })}`).join("  \n");
}

/**
 * The report's lead: how far each model prunes within its perplexity budget, the bracket each
 * search ended on, the curve with the budget line, and whether the PR moved the reach.
 */
export function budgetSection(results: Result[], verdict: Verdict, charts: ChartCollector): Section | null {
  const rs = results.filter((r) => r.budget?.searches.length);
  if (!rs.length) return null;
  const blocks = rs.map((r, i) => {
    const b = r.budget!;
    return join(
      budgetHeadline(r),
      reachLines(verdict.comparisons.filter((c) => c.model === r.model && c.metric === "reach")),
      searchTable(r),
      `<sub>Bisection on a ${fmtPercent(b.tolerance, 1)} grid from the sweep's bracket, perplexity only; dense ${Number(b.dense.toPrecision(4))}. Reach: the highest sparsity measured within the budget; the next point measured above it is beyond.</sub>`,
      layersLine(r),
      charts.add(budgetChart(r, chartId(r.model, String(i), "budget"))),
    );
  });
  return { id: "budget", title: "How far it prunes", level: 3, priority: 2, essential: true, body: join(...blocks) };
}
