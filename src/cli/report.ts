import type { Command } from "commander";
import { notYet } from "./errors.ts";

export function register(program: Command): void {
  program
    .command("report <results...>")
    .description("Markdown report from result files, with verdicts against a base")
    .allowUnknownOption()
    .action(() => notYet("report", "issue 8"));
}
