import { Command, CommanderError } from "commander";
import { UsageError } from "./cli/errors.ts";
import { OnnxFormatError } from "./onnx/errors.ts";
import { ConfigError } from "./config/load.ts";
import * as build from "./cli/build.ts";
import * as analyze from "./cli/analyze.ts";
import * as prune from "./cli/prune.ts";
import * as finetune from "./cli/finetune.ts";
import * as evaluate from "./cli/eval.ts";
import * as run from "./cli/run.ts";
import * as report from "./cli/report.ts";

export function createProgram(): Command {
  const program = new Command("prunebench")
    .description("How far can your transformer be pruned, and what does it cost?")
    .version("0.1.0")
    .showHelpAfterError()
    .exitOverride();
  for (const command of [build, analyze, prune, finetune, evaluate, run, report]) command.register(program);
  return program;
}

/** Known errors print one clear line and exit non-zero; anything else keeps its stack. */
export async function main(argv: string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof OnnxFormatError || error instanceof ConfigError) {
      console.error(`error: ${error.message}`);
      return 1;
    }
    console.error(error);
    return 1;
  }
}

const isEntry = process.argv[1] && /(?:cli\.ts|prunebench(?:\.js)?)$/.test(process.argv[1]);
if (isEntry) process.exitCode = await main(process.argv);
