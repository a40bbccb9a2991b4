/** Number formats of the report: fixed rules, so golden files do not depend on the locale. */

export function fmtNumber(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  const abs = Math.abs(x);
  if (abs >= 10 ** digits) return Math.round(x).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  if (abs !== 0 && abs < 1e-3) return x.toExponential(1);
  return String(Number(x.toPrecision(digits)));
}

export function fmtPercent(x: number | null | undefined, decimals = 0): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  return `${(x * 100).toFixed(decimals)}%`;
}

/** A signed relative change: +4.2%, −1.0%. */
export function fmtChange(x: number | null | undefined, decimals = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  const s = (x * 100).toFixed(decimals);
  return x > 0 ? `+${s}%` : x < 0 ? `−${s.slice(1)}%` : `${s}%`;
}

export function fmtMs(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? "–" : `${fmtNumber(x, 3)} ms`;
}

export function fmtCount(x: number): string {
  return Math.round(x).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Rounds chart data so that URLs and specs stay short. */
export function round(x: number, digits = 4): number {
  return Number.isFinite(x) ? Number(x.toPrecision(digits)) : x;
}

/** "1 run", "3 runs". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
