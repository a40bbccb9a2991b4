import cliProgress from "cli-progress";

/**
 * Long work reports progress: a bar on a terminal, and on a CI log (no TTY) a plain line at
 * most every `intervalMs`, so an Actions log shows the run is alive without flooding it.
 */
export interface Progress {
  start(label: string, total: number): void;
  update(done: number, detail?: string): void;
  stop(summary?: string): void;
  log(line: string): void;
}

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  intervalMs?: number;
  now?: () => number;
  /** Force the plain-line form (tests, CI). */
  plain?: boolean;
}

export function createProgress(options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const plain = options.plain ?? (!stream.isTTY || Boolean(process.env.CI) || Boolean(process.env.GITHUB_ACTIONS));
  return plain ? plainProgress(stream, options.intervalMs ?? 10_000, options.now ?? Date.now) : barProgress(stream);
}

function plainProgress(stream: NodeJS.WritableStream, intervalMs: number, now: () => number): Progress {
  let label = "";
  let total = 0;
  let last = 0;
  let started = 0;
  return {
    start(l, t) {
      label = l;
      total = t;
      started = last = now();
      stream.write(`${label}: started (${total} steps)\n`);
    },
    update(done, detail) {
      const t = now();
      if (t - last < intervalMs && done < total) return;
      last = t;
      const pct = total > 0 ? ` ${((100 * done) / total).toFixed(0)}%` : "";
      stream.write(`${label}: ${done}/${total}${pct}${detail ? ` ${detail}` : ""} (${((t - started) / 1000).toFixed(0)} s)\n`);
    },
    stop(summary) {
      stream.write(`${label}: done in ${((now() - started) / 1000).toFixed(1)} s${summary ? `, ${summary}` : ""}\n`);
    },
    log(line) {
      stream.write(`${line}\n`);
    },
  };
}

function barProgress(stream: NodeJS.WriteStream): Progress {
  let bar: cliProgress.SingleBar | undefined;
  let label = "";
  return {
    start(l, total) {
      label = l;
      bar = new cliProgress.SingleBar(
        { stream, format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta_formatted} {detail}`, hideCursor: true, clearOnComplete: false },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { detail: "" });
    },
    update(done, detail) {
      bar?.update(done, { detail: detail ?? "" });
    },
    stop(summary) {
      bar?.stop();
      bar = undefined;
      if (summary) stream.write(`${label}: ${summary}\n`);
    },
    log(line) {
      stream.write(`${line}\n`);
    },
  };
}

/** For library callers and tests that want no output. */
export const silentProgress: Progress = { start() {}, update() {}, stop() {}, log() {} };
