import type { Command } from "commander";
import { notYet } from "./errors.ts";

export function register(program: Command): void {
  program
    .command("analyze <inputs...>")
    .description("weight statistics of models or configs")
    .allowUnknownOption()
    .action(() => notYet("analyze", "issue 3"));
}
