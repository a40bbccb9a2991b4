import { EXIT } from "../errors.ts";
import type { StopSignal } from "../pipeline/context.ts";

/**
 * Runs `work` with Ctrl-C wired to `stop`: the first SIGINT prints `notice` and asks the work to
 * stop after its current batch (it then ends in RunInterrupted, exit 130, with the resume
 * line); a second one exits 130 at once. Registered before any work, so a Ctrl-C at any
 * moment of the command takes this path, never Node's default (killed by the signal, no line).
 */
export async function withInterrupt<T>(stop: StopSignal, notice: string, work: () => Promise<T>): Promise<T> {
  const onSigint = () => {
    if (stop.requested) process.exit(EXIT.interrupted);
    console.error(`\n${notice}`);
    stop.request();
  };
  process.on("SIGINT", onSigint);
  try {
    return await work();
  } finally {
    process.off("SIGINT", onSigint);
  }
}
