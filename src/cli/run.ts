import type { Command } from "commander";
import { notYet } from "./errors.ts";

export function register(program: Command): void {
  program
    .command("run [configs...]")
    .description("the whole study for each config: analyze, prune, fine-tune, evaluate, report")
    .allowUnknownOption()
    .action(() => notYet("run", "issue 10"));
}
