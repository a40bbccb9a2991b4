import { EXIT, UserError } from "../errors.ts";

/** A bad command line (a flag, an argument): one line, exit code 2 unless given. */
export class UsageError extends UserError {
  constructor(message: string, exitCode: number = EXIT.usage) {
    super(message, { exitCode });
  }
}
