/** An error the CLI prints as one clear message (no stack) before exiting non-zero. */
export class UsageError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = "UsageError";
  }
}

export function notYet(command: string, issue: string): never {
  throw new UsageError(`prunebench ${command}: this stage is not built yet (${issue})`, 3);
}
