import type { Command } from "commander";
import { notYet } from "./errors.ts";

export function register(program: Command): void {
  program
    .command("build <family>")
    .description("write a model of a family (decoder, encoder, encoder-decoder) at a preset size")
    .allowUnknownOption()
    .action(() => notYet("build", "issue 2"));
}
