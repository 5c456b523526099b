// A separate `bramble build`-like process for the concurrency and crash tests: builds the
// graph given as JSON on stdin under BRAMBLE_PATH and prints the result as JSON.
import { readFileSync } from "node:fs";
import { openEngine } from "../../core/build/engine.js";
import { runBuild } from "../../core/build/scheduler.js";
import type { Derivation } from "../../core/derivation/derivation.js";

const input = JSON.parse(readFileSync(0, "utf8")) as { drvs: [string, Derivation][]; roots: string[]; sandboxPaths: string[]; projectRoot: string };
const engine = openEngine(process.env.BRAMBLE_PATH);
const res = await runBuild(
  engine,
  { runId: `child-${process.pid}`, drvs: new Map(input.drvs), roots: input.roots, projectRoot: input.projectRoot, sandboxPaths: input.sandboxPaths },
  (e) => {
    if (e.type === "started") process.stderr.write(`started ${e.hash} ${e.buildId}\n`);
  },
);
process.stdout.write(JSON.stringify({ status: res.status, outputs: [...res.outputs] }) + "\n");
engine.close();
