import type { Command } from "commander";
import { notYet } from "./errors.ts";

export function register(program: Command): void {
  program
    .command("eval <model>")
    .description("perplexity and latency of a model")
    .allowUnknownOption()
    .action(() => notYet("eval", "issue 5"));
}
