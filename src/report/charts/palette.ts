/**
 * Colors of series, in order. They match the colored-square emoji of the Mermaid legend
 * (Mermaid's xychart has no legend of its own).
 */
export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#bcbd22", "#333333"];
export const PALETTE_EMOJI = ["🟦", "🟧", "🟩", "🟥", "🟪", "🟫", "🟨", "⬛"];

export function color(i: number): string {
  return PALETTE[i % PALETTE.length];
}
