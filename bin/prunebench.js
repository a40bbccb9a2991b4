#!/usr/bin/env node
// The installed entry point: the compiled CLI in dist/ (built from src/ by `npm run build:dist`),
// so that a start costs no TypeScript transpiling. PRUNEBENCH_FROM_SOURCE=1 runs the TypeScript
// sources through tsx instead (development; the tests run the sources), as does a checkout
// whose dist/ was removed.
import { existsSync } from "node:fs";
import { URL } from "node:url";

const compiled = new URL("../dist/cli.js", import.meta.url);
if (!/^(1|true)$/.test(process.env.PRUNEBENCH_FROM_SOURCE ?? "") && existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli.ts");
}
