// `npm run bench -- remote [--nodes 1000] [--width 50] [--jobs 64] [--local-jobs 2] [--concurrency 8]`
// A layered DAG (each node depends on two nodes of the layer before, its output names them, so
// closures grow) built three ways, each in a fresh BRAMBLE_PATH:
//   1. local, in the sandbox, -j 2;
//   2. on a Buildbarn cluster on loopback (test/reapi/cluster.ts, one x86_64 pool), -j 64;
//   3. again on the cluster from a fresh BRAMBLE_PATH: everything from the warm Action Cache.
// Needs scripts/setup-buildbarn.sh. Figures only; nothing passes or fails.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { derivationHash, outputTemplate, type Derivation } from "../../core/derivation/derivation.js";
import { hostSystem } from "../../core/builders/backend.js";
import { ReapiBackend } from "../../core/builders/reapi/backend.js";
import { openEngine, type Engine } from "../../core/build/engine.js";
import { resolvedKey, runBuild } from "../../core/build/scheduler.js";
import { randomHashPart } from "../../core/store/store.js";
import { storeName } from "../../core/store/layout.js";
import { listFlag } from "../build/dag.js";
import { startCluster, X86_64_POOL, type Cluster } from "../../test/reapi/cluster.js";

function drvOf(name: string, builder: string, args: string[], env: Record<string, string>): Derivation {
  return { name, builder, args, env, outputs: ["out"], network: false, platform: hostSystem(), system: hostSystem() };
}

/** Static busybox as a registered store path (bin/busybox, bin/sh, bin/env): the one tool of every node. */
async function seedBusybox(engine: Engine): Promise<string> {
  const d = drvOf("busybox", "bench:seed", [], {});
  const h = derivationHash(d);
  const tmp = join(engine.layout.tmpDir, `${process.pid}-seed`);
  mkdirSync(tmp, { recursive: true });
  const tmpName = storeName(randomHashPart(), d.name);
  const p = join(tmp, tmpName);
  mkdirSync(join(p, "bin"), { recursive: true });
  copyFileSync("/bin/busybox", join(p, "bin/busybox"));
  symlinkSync("busybox", join(p, "bin/sh"));
  symlinkSync("busybox", join(p, "bin/env"));
  await engine.store.addOutputs([{ output: "out", tmpPath: p, name: d.name, tmpHash: tmpName.slice(0, 32) }], new Map(), h, (infos) =>
    engine.db.registerOutputs({ drvHash: h, resolved: resolvedKey(d, () => ""), outputs: [...infos].map(([output, info]) => ({ output, info })) }),
  );
  rmSync(tmp, { recursive: true, force: true });
  return h;
}

/** n nodes in layers of `width`; node (l, k) depends on two nodes of layer l-1. */
function wideDag(n: number, width: number, bb: string): { drvs: Map<string, Derivation>; roots: string[] } {
  let seed = 17;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  const drvs = new Map<string, Derivation>([[bb, drvOf("busybox", "bench:seed", [], {})]]);
  const hashes: string[] = [];
  for (let i = 0; i < n; i++) {
    const layer = Math.floor(i / width);
    const env: Record<string, string> = {};
    if (layer > 0) {
      const prev = (layer - 1) * width;
      env.dep0 = outputTemplate(hashes[prev + (rnd() % width)]!, "out");
      env.dep1 = outputTemplate(hashes[prev + (rnd() % width)]!, "out");
    }
    const d = drvOf(`node-${i}`, `${outputTemplate(bb, "out")}/bin/sh`, ["-c", `echo "node ${i}${layer > 0 ? " $dep0 $dep1" : ""}" > $out`], env);
    const h = derivationHash(d);
    hashes.push(h);
    drvs.set(h, d);
  }
  return { drvs, roots: hashes };
}

async function timed(label: string, home: string, cluster: Cluster | undefined, n: number, width: number, jobs: number): Promise<void> {
  const engine = openEngine(home);
  try {
    if (cluster)
      engine.backends.push(
        new ReapiBackend(engine.store, { name: "bb", endpoint: cluster.endpoint, platformProperties: cluster.platformProperties, actionsInFlight: jobs }),
      );
    const bb = await seedBusybox(engine);
    const g = wideDag(n, width, bb);
    let built = 0;
    let cached = 0;
    let failed = 0;
    const t0 = performance.now();
    const r = await runBuild(
      engine,
      { runId: `bench-remote-${Date.now()}`, drvs: g.drvs, roots: g.roots, projectRoot: home, jobs, ...(cluster ? { builder: "bb" } : {}) },
      (e) => {
        if (e.type === "built") built++;
        if (e.type === "cached" && e.remote) cached++;
        if (e.type === "failed" && failed++ < 3) console.error(`  failed: ${e.error}`);
      },
    );
    const ms = performance.now() - t0;
    console.log(
      `${label.padEnd(34)} ${(ms / 1000).toFixed(2).padStart(7)} s, ${(ms / n).toFixed(1).padStart(6)} ms/drv  (${r.status}: ${built} built, ${cached} cached (remote), ${failed} failed)`,
    );
  } finally {
    engine.close();
  }
}

export async function run(args: string[] = []): Promise<void> {
  const n = Number(listFlag(args, "nodes", ["1000"])[0]);
  const width = Number(listFlag(args, "width", ["50"])[0]);
  const jobs = Number(listFlag(args, "jobs", ["64"])[0]);
  const localJobs = Number(listFlag(args, "local-jobs", ["2"])[0]);
  const concurrency = Number(listFlag(args, "concurrency", ["8"])[0]);
  console.log(`host ${hostSystem()}, ${cpus().length} cores; ${n} nodes in layers of ${width}; cluster: one x86_64 pool, runner concurrency ${concurrency}`);
  const base = mkdtempSync(join(tmpdir(), "bramble-bench-remote-"));
  const cluster = await startCluster({ pools: [X86_64_POOL], concurrency });
  try {
    await timed(`local -j ${localJobs}`, join(base, "local"), undefined, n, width, localJobs);
    await timed(`reapi -j ${jobs} (cold cluster)`, join(base, "remote1"), cluster, n, width, jobs);
    await timed(`reapi -j ${jobs}, fresh BRAMBLE_PATH, warm cache`, join(base, "remote2"), cluster, n, width, jobs);
  } finally {
    await cluster.stop();
    rmSync(base, { recursive: true, force: true });
  }
}
