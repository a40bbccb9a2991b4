/**
 * Renders the fixture report (or given result files) to HTML the way GitHub would show it
 * (micromark + GFM) with the charts as local SVG files, and screenshots it in headless
 * Chromium so a person can look at it. Offline: quickchart images would not load here.
 *
 *   npm run report:preview [-- results.json... [--base base.json...]] [--out DIR]
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { micromark } from "micromark";
import { gfm, gfmHtml } from "micromark-extension-gfm";
import { readResultFile, renderReport, writeReportFiles } from "../src/report/index.ts";
import { writeFileAtomic } from "../src/util/atomic.ts";
import { launchChromium, skipWithoutChromium } from "../test/helpers/chromium.ts";

const FIXTURES = path.resolve(import.meta.dirname, "../test/fixtures/results");
const PAGE_HEIGHT = 1400;

function parseArgs(argv: string[]) {
  const head: string[] = [];
  const base: string[] = [];
  let out = path.resolve("out/report-preview");
  let target = head;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--base") target = base;
    else if (argv[i] === "--out") out = path.resolve(argv[++i]);
    else target.push(argv[i]);
  }
  if (!head.length) {
    for (const m of ["bert-base-uncased", "gpt2", "pegasus-large"]) {
      head.push(path.join(FIXTURES, `${m}.json`));
      base.push(path.join(FIXTURES, "base", `${m}.json`));
    }
  }
  return { head, base, out };
}

// GitHub's comment look, roughly: its fonts, widths, table and details styles.
const CSS = `
body { font: 14px/1.5 -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1f2328; max-width: 900px; margin: 24px auto; padding: 0 16px; }
h2 { border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; }
h3 { margin-top: 1.6em; border-bottom: 1px solid #eef1f4; padding-bottom: .2em; }
table { border-collapse: collapse; display: block; width: max-content; max-width: 100%; overflow: auto; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #d1d9e0; padding: 4px 10px; }
tr:nth-child(2n) { background: #f6f8fa; }
img { max-width: 100%; }
details { margin: 8px 0; } summary { cursor: pointer; color: #0969da; }
blockquote { margin: 0; padding: 0 1em; color: #59636e; border-left: .25em solid #d1d9e0; }
code, pre { background: #f6f8fa; border-radius: 6px; }
sub { color: #59636e; }
`;

export async function preview(args: { head: string[]; base: string[]; out: string }): Promise<{ html: string; png: string; pages: string[] }> {
  const report = renderReport({
    results: args.head.map(readResultFile),
    base: args.base.length ? args.base.map(readResultFile) : undefined,
    options: { charts: "local", assetsPath: "charts" },
  });
  await writeReportFiles(args.out, report, { png: false });
  const body = micromark(report.markdown, { allowDangerousHtml: true, extensions: [gfm()], htmlExtensions: [gfmHtml()] });
  const html = path.join(args.out, "report.html");
  writeFileAtomic(html, `<!doctype html><html><head><meta charset="utf-8"><title>prunebench report</title><style>${CSS}</style></head><body>${body}</body></html>\n`);
  const missing = skipWithoutChromium();
  if (missing) throw new Error(missing);
  const browser = await launchChromium({ width: 1000, height: PAGE_HEIGHT });
  const png = path.join(args.out, "report.png");
  const pages: string[] = [];
  try {
    const page = await browser.context.newPage();
    // Everything is local: refuse any request that would leave the machine.
    await page.route(/^(?!file:)/, (route) => route.abort());
    await page.goto(pathToFileURL(html).href);
    await page.waitForLoadState("load");
    // As GitHub shows it (details closed), in pages a person can read, and the whole page.
    const height = Number(await page.evaluate("document.documentElement.scrollHeight"));
    for (let y = 0, i = 1; y < height; y += PAGE_HEIGHT, i++) {
      const file = path.join(args.out, `report-page-${i}.png`);
      await page.screenshot({ path: file, fullPage: true, clip: { x: 0, y, width: 1000, height: Math.min(PAGE_HEIGHT, height - y) } });
      pages.push(file);
    }
    await page.screenshot({ path: png, fullPage: true });
  } finally {
    await browser.close();
  }
  return { html, png, pages };
}

if (process.argv[1] && import.meta.filename === path.resolve(process.argv[1])) {
  const args = parseArgs(process.argv.slice(2));
  const { html, png, pages } = await preview(args);
  console.error(`report preview: ${html}\nscreenshot: ${png} (${readFileSync(png).byteLength} bytes), in ${pages.length} pages: ${pages[0]} ...`);
}
