import { Command, CommanderError } from "commander";
import { EXIT, debugRequested, describeError } from "./errors.ts";
import { EvalWorkerError } from "./eval/worker-client.ts";
import * as build from "./cli/build.ts";
import * as analyze from "./cli/analyze.ts";
import * as prune from "./cli/prune.ts";
import * as finetune from "./cli/finetune.ts";
import * as evaluate from "./cli/eval.ts";
import * as run from "./cli/run.ts";
import * as report from "./cli/report.ts";
import * as dashboard from "./cli/dashboard.ts";

export function createProgram(): Command {
  const program = new Command("prunebench")
    .description("How far can your transformer be pruned, and what does it cost?")
    .version("0.1.0")
    .option("--debug", "print the stack trace of an error (also PRUNEBENCH_DEBUG=1)")
    .showHelpAfterError()
    .exitOverride();
  for (const command of [build, analyze, prune, finetune, evaluate, run, report, dashboard]) command.register(program);
  return program;
}

/**
 * Every error ends here and prints as one line per problem, "error: <file>: <field>: <what>",
 * with no stack unless --debug or PRUNEBENCH_DEBUG=1 asks for it. Exit codes: src/errors.ts.
 */
export async function main(argv: string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    // Commander has printed its own message (and the help) already.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const described = describeError(error);
    const debug = debugRequested(argv);
    described.lines.forEach((line, i) => {
      const hint = described.internal && !debug && i === 0 ? " (an internal error: rerun with --debug for the stack trace)" : "";
      console.error(`error: ${line}${hint}`);
    });
    if (debug) console.error(error instanceof EvalWorkerError && error.workerStack ? error.workerStack : error instanceof Error ? error.stack : error);
    return described.exitCode;
  }
}

const isEntry = process.argv[1] && /(?:cli\.[jt]s|prunebench(?:\.js)?)$/.test(process.argv[1]);
if (isEntry) process.exitCode = await main(process.argv);
