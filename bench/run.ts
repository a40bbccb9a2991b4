import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import os from "node:os";
import { fileURLToPath } from "node:url";

/**
 * `npm run bench [names...]`: runs every bench/*.bench.ts in its own process (so peak RSS is
 * per benchmark) and prints one JSON document. Progress goes to stderr.
 */
const dir = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();

const results: Record<string, unknown> = {};
for (const file of files) {
  const name = file.replace(/\.bench\.ts$/, "");
  process.stderr.write(`bench ${name} ...\n`);
  const child = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", path.join(dir, file)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 64 << 20,
    env: { ...process.env, PRUNEBENCH_BENCH: "1" },
  });
  const line = child.stdout.trim().split("\n").pop() ?? "";
  try {
    results[name] = child.status === 0 ? JSON.parse(line) : { error: `exit ${child.status}`, output: line.slice(-500) };
  } catch {
    results[name] = { error: "no JSON output", output: line.slice(-500) };
  }
}

const document = {
  machine: { cpu: os.cpus()[0]?.model ?? "unknown", cores: os.cpus().length, memoryBytes: os.totalmem(), node: process.version },
  date: new Date().toISOString(),
  results,
};
process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
