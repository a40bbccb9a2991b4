/**
 * Points not dominated by any other (another point at most as slow and at most as
 * perplexed, better in one), sorted by x: the runs worth considering.
 */
export function paretoFront<T extends { x: number; y: number }>(points: T[]): T[] {
  const sorted = [...points].sort((a, b) => a.x - b.x || a.y - b.y);
  const front: T[] = [];
  let best = Infinity;
  for (const p of sorted) {
    if (p.y < best) {
      front.push(p);
      best = p.y;
    }
  }
  return front;
}
