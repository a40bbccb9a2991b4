/**
 * How long `prunebench --help` takes from the compiled CLI (dist/cli.js, built fresh here by
 * scripts/build-dist.ts) against bare `node -e 0`, measured in the same run, alternating, and
 * the TypeScript sources through tsx for reference. Goal (issue 15): at most 0.5 s over bare
 * node. Wall time is inflated by a shared machine's load; user+system CPU seconds (from
 * /usr/bin/time where it exists) are the fairer figure.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildDist, ROOT } from "../scripts/build-dist.ts";

const RUNS = 10;
const timeBin = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

interface Sample {
  wall: number;
  cpu: number | null;
}

function once(args: string[]): Sample {
  const started = performance.now();
  const r = timeBin
    ? spawnSync(timeBin, ["-f", "%U %S", process.execPath, ...args], { cwd: ROOT, encoding: "utf8" })
    : spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8" });
  const wall = (performance.now() - started) / 1000;
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr.slice(-300)}`);
  const times = timeBin ? /(\d+\.\d+) (\d+\.\d+)\s*$/.exec(r.stderr) : null;
  return { wall, cpu: times ? Number(times[1]) + Number(times[2]) : null };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const summary = (samples: Sample[]) => ({
  wallMedianS: Number(median(samples.map((s) => s.wall)).toFixed(3)),
  cpuMedianS: samples[0].cpu === null ? null : Number(median(samples.map((s) => s.cpu!)).toFixed(3)),
});

mkdirSync(path.join(ROOT, ".cache"), { recursive: true });
const dist = mkdtempSync(path.join(ROOT, ".cache", "dist-bench-"));
try {
  await buildDist(dist);
  const bare: Sample[] = [];
  const compiled: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    bare.push(once(["-e", "0"]));
    compiled.push(once([path.join(dist, "cli.js"), "--help"]));
  }
  const sources: Sample[] = [];
  for (let i = 0; i < 3; i++) sources.push(once(["--import", "tsx", "src/cli.ts", "--help"]));
  const b = summary(bare);
  const c = summary(compiled);
  process.stdout.write(
    `${JSON.stringify({
      runs: RUNS,
      bareNode: b,
      compiledHelp: c,
      sourcesThroughTsx: summary(sources),
      overBareWallS: Number((c.wallMedianS - b.wallMedianS).toFixed(3)),
      overBareCpuS: c.cpuMedianS === null || b.cpuMedianS === null ? null : Number((c.cpuMedianS - b.cpuMedianS).toFixed(3)),
      goalOverBareS: 0.5,
      loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
    })}\n`,
  );
} finally {
  rmSync(dist, { recursive: true, force: true });
}
