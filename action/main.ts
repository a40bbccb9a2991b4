/**
 * The Action's entry point, as bootstrap.js imports it after installing dependencies (and as
 * tests run it in a child process, the way the runner does).
 */
import { runAction } from "./run-action.ts";

process.exitCode = await runAction({ env: process.env });
