#!/usr/bin/env node
// The `bramble` command from a checkout: runs the bundled CLI, building it first if needed.
import { existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "dist/cli.mjs");
if (!existsSync(cli)) execFileSync(process.execPath, [join(root, "scripts/build.mjs"), "cli"], { stdio: "inherit" });
await import(pathToFileURL(cli).href);
