import type { Command } from "commander";
import { notYet } from "./errors.ts";

export function register(program: Command): void {
  program
    .command("prune <model>")
    .description("prune a model and write the pruned ONNX file and its mask")
    .allowUnknownOption()
    .action(() => notYet("prune", "issue 4"));
}
