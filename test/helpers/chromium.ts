import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

/** Debian's chromium (apt-get install -y chromium); CHROMIUM_PATH overrides. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Reason to skip a browser test when Chromium is absent, or false to run it. */
export function skipWithoutChromium(): string | false {
  return existsSync(CHROMIUM) ? false : `${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM_PATH) to run the browser checks`;
}

export interface Chromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Headless Chromium with a fresh profile (removed on close) and nothing that phones home.
 * Pages should still refuse requests that leave the machine (page.route).
 */
export async function launchChromium(viewport = { width: 1000, height: 800 }): Promise<Chromium> {
  const profile = mkdtempSync(path.join(os.tmpdir(), "prunebench-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** In-page code as text: the project compiles without DOM types, and tsx's keepNames would wrap functions in a helper the page lacks. */
const PIXELS = `async ({ src, colors, box }) => {
  const img = new Image();
  img.src = src;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const [x0, y0, w, h] = box ?? [0, 0, img.width, img.height];
  const data = ctx.getImageData(x0, y0, w, h).data;
  const rgb = colors.map((c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)));
  const counts = colors.map(() => 0);
  let inked = 0;
  for (let p = 0; p < data.length; p += 4) {
    if (data[p] + data[p + 1] + data[p + 2] < 720) inked++;
    for (let k = 0; k < rgb.length; k++) {
      const [r, g, b] = rgb[k];
      if (Math.abs(data[p] - r) + Math.abs(data[p + 1] - g) + Math.abs(data[p + 2] - b) < 40) counts[k]++;
    }
  }
  return { counts, inked, total: data.length / 4 };
}`;

export interface PixelCounts {
  /** Pixels close to each color (sum of channel differences under 40). */
  counts: number[];
  /** Pixels darker than near-white: something is drawn there. */
  inked: number;
  total: number;
}

/** Pixels of a screenshot (the PNG itself, decoded in the page), in `box` ([x, y, width, height]) or all of it. */
export async function countPixels(page: Page, png: Buffer, colors: string[], box?: number[]): Promise<PixelCounts> {
  const args = { src: `data:image/png;base64,${png.toString("base64")}`, colors, box };
  return (await page.evaluate(`(${PIXELS})(${JSON.stringify(args)})`)) as PixelCounts;
}
