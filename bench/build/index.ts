// `npm run bench -- build`: the engine's overhead per derivation, and a no-op rebuild.
//  1. 200 trivial derivations (a DAG, each writing a line) built from scratch in the
//     sandbox, with -j 1 (pure per-derivation overhead) and the default -j.
//  2. A no-op rebuild of 10,000 built derivations (registered directly, not sandboxed, to
//     keep the set-up short): how long the scheduler takes to find everything cached.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { derivationHash, outputTemplate, type Derivation } from "../../core/derivation/derivation.js";
import { hostSystem } from "../../core/builders/backend.js";
import { openEngine, type Engine } from "../../core/build/engine.js";
import { resolvedKey, runBuild } from "../../core/build/scheduler.js";
import { randomHashPart } from "../../core/store/store.js";
import { storeName } from "../../core/store/layout.js";

const SANDBOX_PATHS = ["/usr", "/bin", "/lib", "/lib64"];

function dag(n: number, tag: string): { drvs: Map<string, Derivation>; roots: string[]; list: [string, Derivation][] } {
  const hashes: string[] = [];
  const list: [string, Derivation][] = [];
  for (let i = 0; i < n; i++) {
    const deps = i === 0 ? [] : [Math.floor((i - 1) / 2), Math.floor((i - 1) / 3)].filter((j, k, a) => a.indexOf(j) === k);
    const env: Record<string, string> = {};
    deps.forEach((j, k) => (env[`dep${k}`] = outputTemplate(hashes[j]!, "out")));
    const d: Derivation = {
      name: `node-${i}`,
      builder: "/bin/sh",
      args: ["-c", `echo "line ${i} ${tag}" > $out`],
      env,
      outputs: ["out"],
      network: false,
      platform: hostSystem(),
      system: hostSystem(),
    };
    const h = derivationHash(d);
    hashes.push(h);
    list.push([h, d]);
  }
  // A wide DAG (each node needs nodes (i-1)/2 and (i-1)/3); every node is a root.
  return { drvs: new Map(list), roots: hashes, list };
}

async function timeBuild(engine: Engine, drvs: Map<string, Derivation>, roots: string[], jobs?: number): Promise<{ ms: number; built: number; cached: number; status: string }> {
  const t0 = performance.now();
  let built = 0;
  let cached = 0;
  const r = await runBuild(engine, { runId: `bench-${Date.now()}`, drvs, roots, projectRoot: tmpdir(), sandboxPaths: SANDBOX_PATHS, jobs }, (e) => {
    if (e.type === "built") built++;
    if (e.type === "cached") cached++;
  });
  return { ms: performance.now() - t0, built, cached, status: r.status };
}

/** Register a derivation's output as if built: a small file, hashed and moved into the store. */
function seed(engine: Engine, list: [string, Derivation][]): void {
  const names = new Map<string, string>();
  const tmp = join(engine.layout.tmpDir, `${process.pid}-seed`);
  mkdirSync(tmp, { recursive: true });
  engine.db.sql.transaction(() => {
    for (const [h, d] of list) {
      const tmpName = storeName(randomHashPart(), d.name);
      const p = join(tmp, tmpName);
      writeFileSync(p, `${d.args[1]}\n`);
      const key = resolvedKey(d, (dh) => names.get(dh)!);
      engine.store.addOutputs([{ output: "out", tmpPath: p, name: d.name, tmpHash: tmpName.slice(0, 32) }], new Map(), h, (infos) =>
        engine.db.registerOutputs({ drvHash: h, resolved: key, outputs: [...infos].map(([output, info]) => ({ output, info })) }),
      );
      names.set(h, engine.db.drvOutputs(h)!.out!);
    }
  })();
  rmSync(tmp, { recursive: true, force: true });
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bramble-bench-"));
  try {
    console.log(`host ${hostSystem()}, ${cpus().length} cores`);
    // 1. 200 trivial derivations from scratch.
    for (const jobs of [1, undefined]) {
      const engine = openEngine(join(dir, `h${jobs ?? "d"}`));
      const g = dag(200, `j${jobs}`);
      const r = await timeBuild(engine, g.drvs, g.roots, jobs);
      const label = jobs ? `-j ${jobs}` : `-j ${cpus().length} (default)`;
      console.log(`200 derivations from scratch, ${label}: ${r.ms.toFixed(0)} ms total, ${(r.ms / r.built).toFixed(2)} ms/derivation (${r.built} built, ${r.status})`);
      const again = await timeBuild(engine, g.drvs, g.roots, jobs);
      console.log(`  no-op rebuild of the same 200: ${again.ms.toFixed(1)} ms (${again.cached} cached)`);
      engine.close();
    }
    // The builder's own work, for comparison: the same sandbox-less shell command.
    {
      const { spawnSync } = await import("node:child_process");
      const t0 = performance.now();
      for (let i = 0; i < 50; i++) spawnSync("/bin/sh", ["-c", `echo line > /dev/null`]);
      console.log(`  (a bare /bin/sh -c echo costs ${((performance.now() - t0) / 50).toFixed(2)} ms)`);
    }
    // 2. No-op rebuild of 10,000.
    const engine = openEngine(join(dir, "big"));
    const g = dag(10_000, "big");
    const t0 = performance.now();
    seed(engine, g.list);
    console.log(`seeded 10,000 built derivations in ${(performance.now() - t0).toFixed(0)} ms`);
    for (let i = 0; i < 2; i++) {
      const r = await timeBuild(engine, g.drvs, g.roots);
      console.log(`10,000-node no-op rebuild: ${r.ms.toFixed(0)} ms (${r.cached} cached, ${r.built} built, ${r.status})`);
    }
    engine.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
