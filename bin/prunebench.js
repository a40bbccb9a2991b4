#!/usr/bin/env node
// The installed entry point: run the TypeScript sources through tsx's loader, so that the
// CLI, the Action and the tests all run the same files without a separate build step.
import { register } from "tsx/esm/api";
register();
await import("../src/cli.ts");
