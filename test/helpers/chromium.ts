import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

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
