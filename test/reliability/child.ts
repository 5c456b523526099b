// A `bramble build`-like process for the concurrency test, lighter to start than the CLI:
// builds the graph given as JSON on stdin under BRAMBLE_PATH, printing "built <name>" and
// "cached <name>" as the CLI does, then the run's status.
import { readFileSync } from "node:fs";
import { openEngine } from "../../core/build/engine.js";
import { runBuild } from "../../core/build/scheduler.js";
import type { Derivation } from "../../core/derivation/derivation.js";

const input = JSON.parse(readFileSync(0, "utf8")) as { drvs: [string, Derivation][]; roots: string[]; sandboxPaths: string[]; projectRoot: string };
const drvs = new Map(input.drvs);
const engine = openEngine(process.env.BRAMBLE_PATH);
const res = await runBuild(
  engine,
  { runId: `conc-${process.pid}`, drvs, roots: input.roots, projectRoot: input.projectRoot, sandboxPaths: input.sandboxPaths },
  (e) => {
    if (e.type === "started") process.stdout.write(`building ${drvs.get(e.hash)!.name}\n`);
    if (e.type === "built" || e.type === "cached") process.stdout.write(`${e.type} ${drvs.get(e.hash)!.name}\n`);
    if (e.type === "failed") process.stdout.write(`failed ${drvs.get(e.hash)!.name}: ${e.error}\n`);
  },
);
process.stdout.write(`status ${res.status}\n`);
engine.close();
process.exitCode = res.status === "built" ? 0 : 1;
