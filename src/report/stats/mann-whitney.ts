import { normalCdf } from "./normal.ts";

export interface MannWhitneyResult {
  /** U of the first sample: the count of pairs (a, b) with a > b, ties counted half. */
  u: number;
  /** Two-sided p-value. */
  pValue: number;
  method: "exact" | "normal";
}

/** Both samples at most this large and no ties: the exact distribution is cheap (n1*n2*(n1+n2) steps). */
const EXACT_MAX = 25;

/**
 * Mann-Whitney U test, two-sided. Exact null distribution for small samples without ties;
 * otherwise the normal approximation with tie correction and continuity correction
 * (Hollander & Wolfe, Nonparametric Statistical Methods, 3rd ed., §4.1).
 */
export function mannWhitney(a: ArrayLike<number>, b: ArrayLike<number>): MannWhitneyResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return { u: Number.NaN, pValue: Number.NaN, method: "normal" };
  const all = [...Array.from(a, (v) => ({ v, first: true })), ...Array.from(b, (v) => ({ v, first: false }))].sort((x, y) => x.v - y.v);
  const n = n1 + n2;
  let rankSumA = 0;
  let tieTerm = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && all[j + 1].v === all[i].v) j++;
    const rank = (i + j + 2) / 2;
    const t = j - i + 1;
    if (t > 1) tieTerm += t * t * t - t;
    for (let k = i; k <= j; k++) if (all[k].first) rankSumA += rank;
    i = j + 1;
  }
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  if (tieTerm === 0 && n1 <= EXACT_MAX && n2 <= EXACT_MAX) return { u, pValue: exactPValue(u, n1, n2), method: "exact" };
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (variance <= 0) return { u, pValue: 1, method: "normal" };
  const z = Math.max(0, Math.abs(u - mean) - 0.5) / Math.sqrt(variance);
  return { u, pValue: Math.min(1, 2 * (1 - normalCdf(z))), method: "normal" };
}

/** P(|U - mean| >= |u - mean|) under the null, from the count of arrangements per U value. */
function exactPValue(u: number, n1: number, n2: number): number {
  // counts[i][j][k]: arrangements of i first-sample and j second-sample values with U = k,
  // built up by appending the largest value to either sample (f(i,j,k) = f(i-1,j,k-j) + f(i,j-1,k)).
  const max = n1 * n2;
  let prev: Float64Array[] = [];
  for (let i = 0; i <= n1; i++) {
    const row: Float64Array[] = [];
    for (let j = 0; j <= n2; j++) {
      const dist = new Float64Array(max + 1);
      if (i === 0 || j === 0) dist[0] = 1;
      else {
        const left = prev[j];
        const down = row[j - 1];
        for (let k = 0; k <= i * j; k++) dist[k] = (k >= j ? left[k - j] : 0) + down[k];
      }
      row.push(dist);
    }
    prev = row;
  }
  const dist = prev[n2];
  let total = 0;
  for (const c of dist) total += c;
  const mean = max / 2;
  const d = Math.abs(u - mean);
  let tail = 0;
  for (let k = 0; k <= max; k++) if (Math.abs(k - mean) >= d - 1e-9) tail += dist[k];
  return Math.min(1, tail / total);
}
