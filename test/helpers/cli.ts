import { main } from "../../src/cli.ts";

/** Runs the CLI in-process, capturing what it prints (lines joined by newlines). */
export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const errors: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => void out.push(a.map(String).join(" "));
  console.error = (...a: unknown[]) => void errors.push(a.map(String).join(" "));
  try {
    return { code: await main(["node", "prunebench", ...args]), stdout: out.join("\n"), stderr: errors.join("\n") };
  } finally {
    [console.log, console.error] = [log, error];
  }
}
