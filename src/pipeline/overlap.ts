import { resolveCorpus } from "../data/resolve.ts";
import { getMethod } from "../prune/registry.ts";
import type { TextOverlap } from "../results/schema.ts";
import type { RunContext } from "./context.ts";
import { datasetText } from "./datasets.ts";
import type { PlannedRun } from "./plan.ts";

/** Share of the fine-tuning text the trainer trains on when no validation split is named (src/train/train.ts). */
const TRAIN_SHARE = 0.9;

interface TextRef {
  label: string;
  sha256: string;
  bytes: number;
}

/**
 * Calibration and fine-tuning text that is also evaluation text (the same split of the same
 * corpus, by hash, and overlapping byte ranges): perplexities measured on text the model was
 * calibrated or trained on are optimistic, and the report must say so beside those rows.
 * Checked before any work starts, from the config alone.
 */
export async function textOverlaps(ctx: RunContext, plan: PlannedRun[]): Promise<TextOverlap[]> {
  const { config } = ctx.loaded;
  const evalConfig = config.eval.perplexity;
  if (!evalConfig) return [];
  const ref = async (dataset: string): Promise<TextRef> => {
    const { corpus, split, label } = await resolveCorpus(dataset, { configDir: ctx.loaded.dir, cacheDir: ctx.cacheDir });
    return { label, sha256: corpus.sha256(split), bytes: Buffer.byteLength(corpus.split(split)) };
  };
  const evaluated = await ref(evalConfig.dataset);
  // Evaluation reads a prefix of its split (max_tokens cuts it).
  const evalText = await datasetText(ctx, evalConfig.dataset, evalConfig.max_tokens);
  const evalEnd = Buffer.byteLength(evalText.text);
  const out: TextOverlap[] = [];
  const check = async (use: TextOverlap["use"], field: string, dataset: string, share: [number, number], methods: string[]) => {
    const used = await ref(dataset);
    if (used.sha256 !== evaluated.sha256) return;
    const [a, b] = [Math.floor(used.bytes * share[0]), Math.ceil(used.bytes * share[1])];
    const lo = Math.max(a, 0);
    const hi = Math.min(b, evalEnd);
    if (hi > lo) out.push({ use, field, dataset: used.label, evaluation: evalText.label, bytes: [lo, hi], methods });
  };
  const calibrated = [...new Set(plan.filter((r) => getMethod(r.method).calibrated).map((r) => r.method))];
  // Calibration windows are drawn from anywhere in the split.
  if (calibrated.length) await check("calibration", "prune.calibration.dataset", config.prune.calibration.dataset, [0, 1], calibrated);
  const ft = config.finetune;
  if (ft && !ft.command) {
    await check("fine-tuning", "finetune.dataset", ft.dataset, [0, ft.validation ? 1 : TRAIN_SHARE], ["*"]);
    if (ft.validation) await check("validation", "finetune.validation", ft.validation, [0, 1], ["*"]);
    else await check("validation", "finetune.dataset", ft.dataset, [TRAIN_SHARE, 1], ["*"]);
  }
  return out;
}

/** The run's warning for an overlap: one line naming the config field. */
export function overlapWarning(o: TextOverlap, configFile: string): string {
  const who = o.methods.includes("*") ? "fine-tuned runs" : o.methods.join(", ");
  return (
    `${configFile}: ${o.field} (${o.dataset}) overlaps the evaluation text ${o.evaluation} (bytes ${o.bytes[0]}-${o.bytes[1]}): ` +
    `the ${o.use} text is scored, so perplexities of ${who} are optimistic; use another split`
  );
}
