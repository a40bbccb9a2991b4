import type { Command } from "commander";
import { notYet } from "./errors.ts";

export function register(program: Command): void {
  program
    .command("finetune <model>")
    .description("fine-tune a (pruned) model with its masks kept")
    .allowUnknownOption()
    .action(() => notYet("finetune", "issue 6"));
}
