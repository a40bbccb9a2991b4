/**
 * Colors of series, in order (Tableau 10 without its gray, which is dense's): one per method,
 * so ten methods before a color repeats. The first eight match the colored-square emoji of
 * the Mermaid legend (Mermaid's xychart has no legend of its own).
 */
export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#bcbd22", "#17becf", "#e377c2", "#393b79"];
export const PALETTE_EMOJI = ["🟦", "🟧", "🟩", "🟥", "🟪", "🟫", "🟨", "⬛"];

/** Dense, the reference every chart compares with: neutral, never a method's color. */
export const DENSE_COLOR = "#555555";

/** Rings around regressed points (the dashboard): a red apart from the palette's own (#d62728). */
export const REGRESSION_COLOR = "#e8000b";

/** Palette index -1 is dense. */
export function color(i: number): string {
  return i < 0 ? DENSE_COLOR : PALETTE[i % PALETTE.length];
}

/** Palette indexes by method label in first-seen order (the table's order): one color per method. */
export class MethodColors {
  private readonly index = new Map<string, number>();
  of(label: string): number {
    if (label === "dense") return -1;
    let i = this.index.get(label);
    if (i === undefined) this.index.set(label, (i = this.index.size));
    return i;
  }
}
