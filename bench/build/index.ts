// `npm run bench -- build [--sizes 200,1000,5000] [--stores disk,tmpfs] [--jobs 2] [--noop 10000] [--phases]`
//  1. The DAG of bench/build/dag.ts (outputs reference their inputs, so closures grow) built
//     from scratch in the sandbox at each size, with the store on disk and on tmpfs: total
//     time, and ms per derivation over the first and the last 10% of nodes. Flat is the goal:
//     the last 10% of 5,000 should cost what the first 10% of 200 does.
//  2. A no-op rebuild of a 10,000-node graph already built (registered directly, not
//     sandboxed, to keep the set-up short): how long the scheduler takes to find it cached.
// BRAMBLE_STORE_VIEW=0 measures the old sandbox (one bind per input) for comparison.
// --phases prints, after each run, the median of each build's phases (BRAMBLE_BUILD_PHASES,
// core/builders/local.ts); BRAMBLE_LAUNCHER_SPARES=0 BRAMBLE_HELPER_NETNS=0 starts every
// sandbox fresh, with bwrap's own network namespace, as before the spares.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { derivationHash, outputTemplate, type Derivation } from "../../core/derivation/derivation.js";
import { hostSystem } from "../../core/builders/backend.js";
import { storeViewAvailable } from "../../core/builders/store-view.js";
import { openEngine, type Engine } from "../../core/build/engine.js";
import { resolvedKey, runBuild } from "../../core/build/scheduler.js";
import { randomHashPart } from "../../core/store/store.js";
import { storeName } from "../../core/store/layout.js";
import { dagEdges, firstLast, listFlag, nodeScript, tmpfsDir } from "./dag.js";

const BUSYBOX = "/bin/busybox";

function drvOf(name: string, builder: string, args: string[], env: Record<string, string>): Derivation {
  return { name, builder, args, env, outputs: ["out"], network: false, platform: hostSystem(), system: hostSystem() };
}

/** Register outputs as if built: each derivation's tree made by `make`, hashed and moved into the store. */
async function seed(engine: Engine, list: [string, Derivation][], make: (dir: string, d: Derivation) => void): Promise<void> {
  const names = new Map<string, string>();
  const tmp = join(engine.layout.tmpDir, `${process.pid}-seed`);
  mkdirSync(tmp, { recursive: true });
  for (const [h, d] of list) {
    const tmpName = storeName(randomHashPart(), d.name);
    const p = join(tmp, tmpName);
    make(p, d);
    const key = resolvedKey(d, (dh) => names.get(dh)!);
    await engine.store.addOutputs([{ output: "out", tmpPath: p, name: d.name, tmpHash: tmpName.slice(0, 32) }], new Map(), h, (infos) =>
      engine.db.registerOutputs({ drvHash: h, resolved: key, outputs: [...infos].map(([output, info]) => ({ output, info })) }),
    );
    names.set(h, engine.db.drvOutputs(h)!.out!);
  }
  rmSync(tmp, { recursive: true, force: true });
}

/** Static busybox as a store path (bin/busybox, bin/sh → busybox): the one tool of every node. */
async function seedBusybox(engine: Engine): Promise<string> {
  const d = drvOf("busybox", "bench:seed", [], {});
  const h = derivationHash(d);
  await seed(engine, [[h, d]], (dir) => {
    mkdirSync(join(dir, "bin"), { recursive: true });
    copyFileSync(BUSYBOX, join(dir, "bin/busybox"));
    symlinkSync("busybox", join(dir, "bin/sh"));
  });
  return h;
}

/** The bench DAG as derivations, busybox's first. */
function dag(n: number, tag: string, bb: string): { drvs: Map<string, Derivation>; order: string[] } {
  const edges = dagEdges(n);
  const hashes: string[] = [];
  const drvs = new Map<string, Derivation>();
  drvs.set(bb, drvOf("busybox", "bench:seed", [], {}));
  for (let i = 0; i < n; i++) {
    const env: Record<string, string> = {};
    edges[i]!.forEach((j, k) => (env[`dep${k}`] = outputTemplate(hashes[j]!, "out")));
    const d = drvOf(`node-${i}`, `${outputTemplate(bb, "out")}/bin/sh`, ["-c", nodeScript(i, edges[i]!.length, tag)], env);
    const h = derivationHash(d);
    hashes.push(h);
    drvs.set(h, d);
  }
  return { drvs, order: hashes };
}

export interface DagRun {
  /** from the first derivation started to the last one built (as Nix's figure is timed) */
  ms: number;
  /** before the first derivation started: the run's planning (Nix's evaluation and instantiation, for Nix) */
  beforeMs?: number;
  first: number;
  last: number;
  built: number;
  status: string;
  /** a second run over the built graph (everything cached), when asked for */
  noopMs?: number;
}

/** Build the n-node DAG from scratch in a fresh BRAMBLE_PATH under `base`. */
export async function buildDag(base: string, n: number, jobs: number, tag = "bramble", noop = false): Promise<DagRun> {
  const home = mkdtempSync(join(base, "bramble-bench-"));
  const engine = openEngine(home);
  try {
    const bb = await seedBusybox(engine);
    const g = dag(n, tag, bb);
    const index = new Map(g.order.map((h, i) => [h, i] as const));
    const doneAt: number[] = new Array(n);
    let built = 0;
    const t0 = performance.now();
    let firstStart: number | undefined;
    const r = await runBuild(engine, { runId: `bench-${Date.now()}`, drvs: g.drvs, roots: g.order, projectRoot: home, jobs }, (e) => {
      if (e.type === "started") firstStart ??= performance.now();
      if (e.type === "built") {
        built++;
        const i = index.get(e.hash);
        if (i !== undefined) doneAt[i] = performance.now();
      }
      if (e.type === "failed") console.error(`  failed: ${e.error}\n${e.logTail.join("\n")}`);
    });
    const start = firstStart ?? t0;
    const ms = performance.now() - start;
    if (r.status !== "built") return { ms, first: NaN, last: NaN, built, status: r.status };
    let noopMs: number | undefined;
    if (noop) {
      const t1 = performance.now();
      await runBuild(engine, { runId: `bench-noop-${Date.now()}`, drvs: g.drvs, roots: g.order, projectRoot: home, jobs }, () => {});
      noopMs = performance.now() - t1;
    }
    return { ms, beforeMs: start - t0, ...firstLast(start, doneAt), built, status: r.status, noopMs };
  } finally {
    engine.close();
    rmSync(home, { recursive: true, force: true });
  }
}

/** Where a store "on disk" and "on tmpfs" go. */
export function storeBases(kinds: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const k of kinds) {
    if (k === "disk") out.push([k, tmpdir()]);
    else if (k === "tmpfs" && tmpfsDir()) out.push([k, tmpfsDir()!]);
    else console.log(`(no ${k} store here: skipped)`);
  }
  return out;
}

export function fmtRun(label: string, n: number, r: DagRun): string {
  if (r.status !== "built") return `${label} ${n} nodes: ${r.status} after ${(r.ms / 1000).toFixed(1)} s (${r.built} built)`;
  const before = r.beforeMs === undefined ? "" : `  (+ ${(r.beforeMs / 1000).toFixed(2)} s planning before)`;
  return `${label} ${String(n).padStart(5)} nodes: ${(r.ms / 1000).toFixed(2).padStart(7)} s, ${(r.ms / n).toFixed(1).padStart(6)} ms/drv; first 10% ${r.first.toFixed(1).padStart(6)} ms/drv, last 10% ${r.last.toFixed(1).padStart(6)} ms/drv${before}`;
}

export async function run(args: string[] = []): Promise<void> {
  const sizes = listFlag(args, "sizes", ["200", "1000", "5000"]).map(Number);
  const kinds = listFlag(args, "stores", ["disk", "tmpfs"]);
  const jobs = Number(listFlag(args, "jobs", ["2"])[0]);
  const noop = Number(listFlag(args, "noop", ["10000"])[0]);
  // --phases: each build's phases (local.ts, BRAMBLE_BUILD_PHASES), medians printed per run.
  const phases = args.includes("--phases");
  const probe = mkdtempSync(join(tmpdir(), "bramble-bench-probe-"));
  const view = storeViewAvailable(probe);
  rmSync(probe, { recursive: true, force: true });
  console.log(
    `host ${hostSystem()}, ${cpus().length} cores, -j${jobs}; sandbox inputs: ${view ? "one idmapped store view (hard links)" : "one bind per input"}`,
  );
  for (const [kind, base] of storeBases(kinds)) {
    for (const n of sizes) {
      const file = phases ? join(base, `bramble-bench-phases-${process.pid}.jsonl`) : undefined;
      if (file) process.env.BRAMBLE_BUILD_PHASES = file;
      try {
        console.log(fmtRun(`${kind.padEnd(5)}`, n, await buildDag(base, n, jobs)));
        if (file) console.log(fmtPhases(file));
      } finally {
        if (file) {
          delete process.env.BRAMBLE_BUILD_PHASES;
          rmSync(file, { force: true });
        }
      }
    }
  }
  if (noop > 0) await noopRebuild(noop);
}

/** The median of each phase over the builds FILE records (one JSON object of ms per line). */
function fmtPhases(file: string): string {
  const rows = readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, number>);
  const keys = ["gap", "prepare", "argv", "ran", "drain", "seal", "addOutputs", "removeTree"];
  const median = (v: number[]) => {
    const s = [...v].sort((a, b) => a - b);
    return s.length ? s[Math.floor(s.length / 2)]! : NaN;
  };
  // all builds, then the first and the last 10% (in the order they ended)
  const tenth = Math.max(1, Math.floor(rows.length / 10));
  const line = (label: string, rs: Record<string, number>[]) => {
    const parts = keys.map((k) => `${k} ${median(rs.flatMap((r) => (k in r ? [r[k]!] : []))).toFixed(2)}`);
    const whole = median(rs.map((r) => keys.reduce((t, k) => t + (r[k] ?? 0), 0)));
    return `        ${label}, median ms: ${parts.join(", ")}; whole build ${whole.toFixed(2)}`;
  };
  return [line(`phases of ${rows.length} builds`, rows), line(`the first ${tenth}`, rows.slice(0, tenth)), line(`the last ${tenth}`, rows.slice(-tenth))].join(
    "\n",
  );
}

/** A no-op rebuild of `n` built derivations (seeded directly, outputs referencing nothing). */
async function noopRebuild(n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bramble-bench-"));
  try {
    const engine = openEngine(join(dir, "big"));
    const edges = dagEdges(n);
    const hashes: string[] = [];
    const list: [string, Derivation][] = [];
    for (let i = 0; i < n; i++) {
      const env: Record<string, string> = {};
      edges[i]!.forEach((j, k) => (env[`dep${k}`] = outputTemplate(hashes[j]!, "out")));
      const d = drvOf(`node-${i}`, "/bin/sh", ["-c", nodeScript(i, edges[i]!.length, "noop")], env);
      const h = derivationHash(d);
      hashes.push(h);
      list.push([h, d]);
    }
    const t0 = performance.now();
    await seed(engine, list, (p, d) => writeFileSync(p, `${d.args[1]}\n`));
    console.log(`seeded ${n.toLocaleString("en")} built derivations in ${(performance.now() - t0).toFixed(0)} ms`);
    const drvs = new Map(list);
    for (let i = 0; i < 2; i++) {
      const t1 = performance.now();
      let cached = 0;
      const r = await runBuild(engine, { runId: `bench-noop-${i}`, drvs, roots: hashes, projectRoot: dir }, (e) => {
        if (e.type === "cached") cached++;
      });
      console.log(`${n.toLocaleString("en")}-node no-op rebuild: ${(performance.now() - t1).toFixed(0)} ms (${cached} cached, ${r.status})`);
    }
    engine.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
