#!/usr/bin/env node
// The `bramble` command from a checkout, as node runs it. `--version` answers from
// dist/version.mjs, `starlark` runs dist/fast.mjs (the Starlark interpreter only); everything
// else runs the bundled CLI, building it first if needed. package.json's bin is bin/bramble, a
// shell script that prints the version itself, runs `starlark` through bin/bramble-fast.cjs
// (with V8's code cache) and everything else through this file, without NODE_EXTRA_CA_CERTS for
// the verbs that make no TLS connection (see there). `npm run bench -- startup` measures each.
import { existsSync } from "node:fs";

// What bin/bramble took out of node's start-up goes back for every process this one starts.
const handedOn = process.env.BRAMBLE_NODE_EXTRA_CA_CERTS;
if (handedOn !== undefined) {
  delete process.env.BRAMBLE_NODE_EXTRA_CA_CERTS;
  if (process.env.NODE_EXTRA_CA_CERTS === undefined) process.env.NODE_EXTRA_CA_CERTS = handedOn;
}

const dist = new URL("../dist/", import.meta.url);
const args = process.argv.slice(2);
const verb = args[0];
if (args.length === 1 && (verb === "--version" || verb === "-V") && existsSync(new URL("version.mjs", dist))) {
  // The version alone (dist/version.mjs, core/version.ts): not even the Starlark interpreter.
  const { VERSION } = await import(new URL("version.mjs", dist).href);
  process.stdout.on("error", (err) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  process.stdout.write(`${VERSION}\n`);
} else if ((verb === "starlark" || verb === "--version" || verb === "-V") && existsSync(new URL("fast.mjs", dist))) {
  const { fastMain } = await import(new URL("fast.mjs", dist).href);
  const code = fastMain(args);
  if (code !== undefined) process.exitCode = code;
  else await full();
} else {
  await full();
}

async function full() {
  const cli = new URL("cli.mjs", dist);
  if (!existsSync(cli)) {
    const { execFileSync } = await import("node:child_process");
    execFileSync(process.execPath, [new URL("../scripts/build.mjs", import.meta.url).pathname, "cli"], { stdio: "inherit" });
  }
  await import(cli.href);
}
