// The scheduler: one build run. Finds what the requested derivations need, what is built
// already (in any store bramble can reach: the store locator), plans the rest on the run's
// backends, then hands the graph walk (walk.ts) the realiser (realise.ts) as the way to run a
// node, and emits one typed event stream.
import { cpus } from "node:os";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BuildEvent } from "../model/types.js";
import { isImpure, type Derivation } from "../derivation/derivation.js";
import { probeAll, type Backend } from "../builders/backend.js";
import type { Engine } from "./engine.js";
import { planGraph } from "./plan.js";
import { StoreLocator } from "./locator.js";
import { dependencies, realise, type RealiseRequest } from "./realise.js";
import { walkGraph } from "./walk.js";
import { addTempRoots, releaseAll, waitForGc } from "../store/temp-roots.js";

export { dependencies, resolvedKey } from "./realise.js";

export interface BuildRequest extends RealiseRequest {
  drvs: Map<string, Derivation>;
  roots: string[];
  /** unused by builds: a derivation sees the host paths in its own `hostPaths` (in its hash) and no others */
  sandboxPaths?: string[];
  jobs?: number;
  keepGoing?: boolean;
  /** build just these (and what they need) instead of the roots */
  only?: string[];
  builder?: string;
  /**
   * Leave the requested outputs in the store of the backend that built them (or holds them)
   * instead of copying them back to the local store at the end (like `nix build --store`).
   */
  keepRemote?: boolean;
  /** the backends of this run (the project's: engine.backendsFor); default the engine's */
  backends?: Backend[];
  /** refuse impure derivations (those that see host paths) before anything builds: `--pure` */
  pure?: boolean;
  signal?: AbortSignal;
}

export interface BuildResult {
  status: "built" | "failed" | "cancelled";
  /** derivation hash → output name → store path, for everything built or cached */
  outputs: Map<string, Record<string, string>>;
  /** derivations whose build failed */
  failed: string[];
}

export async function runBuild(engine: Engine, req: BuildRequest, listener: (e: BuildEvent) => void): Promise<BuildResult> {
  const { runId, drvs } = req;
  // A listener that throws (a closed socket, say) must not break the build.
  const emit = (e: BuildEvent) => {
    try {
      listener(e);
    } catch {
      /* the consumer's problem */
    }
  };
  const jobs = Math.max(1, req.jobs ?? cpus().length);
  const deps = (h: string) => dependencies(drvs.get(h)!);

  // Everything the requested derivations need.
  const wanted = req.only?.length ? req.only : req.roots;
  const closure = new Set<string>();
  const unknown: string[] = [];
  const stack = [...wanted];
  while (stack.length) {
    const h = stack.pop()!;
    if (closure.has(h)) continue;
    if (!drvs.has(h)) {
      unknown.push(h);
      continue;
    }
    closure.add(h);
    for (const d of deps(h)) if (!closure.has(d)) stack.push(d);
  }

  const backends = req.backends ?? engine.backends;
  const stores = new StoreLocator(engine, backends);
  const built = engine.db.drvOutputsMany([...closure]);
  // What this run uses or makes is held as temporary gc roots until it ends (temp-roots.ts):
  // the inputs built before, held first and looked at again once no gc runs (one that began
  // before they were held may have taken them: they are then built again), and each output as
  // it is registered (realise.ts).
  const holds: (() => void)[] = [];
  const hold = async (names: string[]) => {
    holds.push(addTempRoots(engine.layout.varDir, names));
    await waitForGc(engine.layout.lockDir, req.signal);
  };
  await hold([...built.values()].flatMap((outs) => Object.values(outs))).catch(() => {});
  // A registered path that vanished from disk (deleted by hand, or by a gc) is no longer valid.
  const vanished = new Set<string>();
  for (const [h, outs] of built) {
    const gone = Object.values(outs).filter((n) => !existsSync(engine.store.path(n)));
    if (gone.length) {
      gone.forEach((n) => vanished.add(n));
      built.delete(h);
    }
  }
  if (vanished.size) engine.db.deletePaths([...vanished]);
  // Not in the local store: built if another backend's store holds every output.
  const elsewhere = [...closure].filter((h) => !built.has(h));
  const recorded = elsewhere.length ? engine.db.drvOutputsRecorded(elsewhere) : new Map<string, Record<string, string>>();
  // Ask the network, in parallel and only now (planning itself never waits): the backends this
  // run is told to use, and those whose stores the DB says hold what is not here.
  const forced = new Set([req.builder, ...[...closure].map((h) => drvs.get(h)!.builderBackend)].filter((b): b is string => !!b));
  for (const outs of recorded.values()) for (const n of Object.values(outs)) for (const id of engine.db.storesOf(n)) forced.add(id);
  await probeAll(backends.filter((b) => forced.has(b.name)));
  if (elsewhere.length) {
    for (const [h, outs] of recorded) {
      const names = drvs.get(h)!.outputs.map((o) => outs[o]);
      if (names.every((n) => n !== undefined && stores.holding(n) !== undefined)) built.set(h, outs);
    }
    // Held too: a build here may bring them into the local store, where a gc must leave them.
    await hold([...recorded.values()].flatMap((outs) => Object.values(outs))).catch(() => {});
  }
  const outputs = new Map<string, Record<string, string>>(); // store names
  const failed: string[] = [];
  const toPaths = (names: Record<string, string>) => Object.fromEntries(Object.entries(names).map(([o, n]) => [o, stores.pathOf(n)]));

  // Needed: not built, and reachable from the requested nodes through unbuilt nodes.
  const needed = new Set<string>();
  const visit = [...wanted.filter((h) => closure.has(h))];
  while (visit.length) {
    const h = visit.pop()!;
    if (needed.has(h) || built.has(h)) continue;
    needed.add(h);
    for (const d of deps(h)) if (closure.has(d)) visit.push(d);
  }
  const cachedNodes = [...closure].filter((h) => built.has(h));
  const plan = planGraph(backends, new Map([...needed].map((h) => [h, drvs.get(h)!])), { builder: req.builder });

  emit({
    type: "run-started",
    runId,
    total: needed.size + cachedNodes.length,
    nodes: [...cachedNodes, ...needed].map((h) => ({
      hash: h,
      name: drvs.get(h)!.name,
      backend: plan.get(h)?.backend ?? "cached",
      system: drvs.get(h)!.system,
    })),
  });
  const wantedSet = new Set(wanted);
  const cachedRootsElsewhere: string[] = [];
  for (const h of cachedNodes) {
    outputs.set(h, built.get(h)!);
    // The user asked for it: it comes to the local store first (below, once planning is fine).
    if (!req.keepRemote && wantedSet.has(h) && Object.values(built.get(h)!).some((n) => !engine.store.has(n))) cachedRootsElsewhere.push(h);
    else emit({ type: "cached", runId, hash: h, outputs: toPaths(built.get(h)!) });
  }
  const finish = (status: BuildResult["status"], nBuilt: number, nCached: number): BuildResult => {
    releaseAll(holds);
    emit({ type: "run-finished", runId, status, built: nBuilt, cached: nCached, failed: failed.length });
    return { status, outputs: new Map([...outputs].map(([h, n]) => [h, toPaths(n)])), failed };
  };

  // Planning errors and unknown dependencies stop the run before anything builds.
  const planErrors = [...needed].filter((h) => plan.get(h)!.error);
  // --pure: a derivation that sees host paths is refused, even one built before.
  const impure = req.pure ? [...closure].filter((h) => isImpure(drvs.get(h)!)) : [];
  for (const h of impure) {
    failed.push(h);
    const paths = Object.keys(drvs.get(h)!.hostPaths!).join(", ");
    emit({
      type: "failed",
      runId,
      hash: h,
      buildId: null,
      exitCode: null,
      error: `${drvs.get(h)!.name} is impure: it sees the host paths ${paths} (sandbox_paths), and --pure refuses impure derivations`,
      logTail: [],
    });
  }
  if (unknown.length || planErrors.length || impure.length) {
    for (const h of planErrors) {
      failed.push(h);
      emit({ type: "failed", runId, hash: h, buildId: null, exitCode: null, error: plan.get(h)!.error!, logTail: [] });
    }
    for (const h of unknown) {
      failed.push(h);
      emit({ type: "failed", runId, hash: h, buildId: null, exitCode: null, error: `unknown derivation ${h}: not in the evaluated graph`, logTail: [] });
    }
    return finish("failed", 0, cachedNodes.length);
  }
  for (const h of cachedRootsElsewhere) {
    try {
      await stores.bring(engine.store, Object.values(built.get(h)!));
      emit({ type: "cached", runId, hash: h, outputs: toPaths(built.get(h)!) });
    } catch (e) {
      failed.push(h);
      emit({ type: "failed", runId, hash: h, buildId: null, exitCode: null, error: `${drvs.get(h)!.name}: ${(e as Error).message}`, logTail: [] });
    }
  }
  for (const h of needed) emit({ type: "planned", runId, hash: h, backend: plan.get(h)!.backend! });
  // A run in progress (a remote store's gc, which cannot see this host's temporary roots, waits for it).
  const marker = join(engine.layout.lockDir, `run-${process.pid}-${runId.replace(/[^A-Za-z0-9_-]/g, "_")}.lock`);
  if (needed.size) writeFileSync(marker, `${process.pid}\n`);

  const withHold = { ...req, hold };
  let nBuilt = 0;
  let nCached = cachedNodes.length - failed.length; // cached roots that could not come here failed
  const walked = await walkGraph({
    nodes: needed,
    deps,
    jobs,
    keepGoing: req.keepGoing,
    signal: req.signal,
    run: async (h, signal) => {
      const r = await realise(engine, stores, withHold, h, drvs.get(h)!, plan.get(h)!.backend!, outputs, !req.keepRemote && wantedSet.has(h), signal, emit);
      if (r.status === "built") nBuilt++;
      else if (r.status === "cached") nCached++;
      return r.status;
    },
    // Skipped, not failed and not cancelled: it never ran because something it needs failed.
    // Recorded in the history like a build, so a restarted service still tells them apart.
    onSkipped: (h, dep) => {
      const drv = drvs.get(h)!;
      const error = `dependency ${drvs.get(dep)!.name} (${dep}) failed`;
      const buildId = engine.db.recordSkipped({
        runId,
        drvHash: h,
        name: drv.name,
        backend: plan.get(h)?.backend ?? "",
        platform: drv.platform,
        system: drv.system,
        error,
      });
      emit({ type: "skipped", runId, hash: h, buildId, dependency: dep, error });
    },
    // A bug, not a build failure: report it on the node (the walk stops).
    onError: (h, e) =>
      emit({ type: "failed", runId, hash: h, buildId: null, exitCode: null, error: `internal error: ${(e as Error).stack ?? e}`, logTail: [] }),
  });
  failed.push(...walked.failed);
  rmSync(marker, { force: true });

  const cancelledRun = !!req.signal?.aborted;
  for (const h of walked.notRun) emit({ type: "cancelled", runId, hash: h, buildId: null });
  const status: BuildResult["status"] = cancelledRun ? "cancelled" : failed.length ? "failed" : "built";
  return finish(status, nBuilt, nCached);
}
