// The scheduler: walks the derivation graph, skips what is built, runs the rest in
// parallel on their planned backends, and emits one typed event stream.
import { cpus } from "node:os";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BuildEvent } from "../model/types.js";
import {
  canonicalJSON,
  derivationInputs,
  isImpure,
  isFixedOutput,
  shortHash,
  substituteTemplates,
  type Derivation,
} from "../derivation/derivation.js";
import { BuildFailure, probeAll, type Backend } from "../builders/backend.js";
import { lock } from "../store/lock.js";
import { copyClosure, MissingPathError } from "../store/copy.js";
import type { PathInfo, Store } from "../store/store.js";
import { LOCAL_STORE } from "../db/db.js";
import type { Engine } from "./engine.js";
import { BuildLog, logFileFor } from "../store/logs.js";
import { planGraph } from "./plan.js";
import { buildWithRemoteCache } from "../builders/reapi/cache.js";
import { killPoint } from "../store/kill-points.js";

export interface BuildRequest {
  runId: string;
  drvs: Map<string, Derivation>;
  roots: string[];
  projectRoot: string;
  /** unused by builds: a derivation sees the host paths in its own `hostPaths` (in its hash) and no others */
  sandboxPaths?: string[];
  jobs?: number;
  keepGoing?: boolean;
  keepFailed?: boolean;
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
  /** a reapi backend whose Action Cache local builds consult and fill (`--remote-cache`); false: none, even if configured */
  remoteCache?: string | false;
  /** refuse impure derivations (those that see host paths) before anything builds: `--pure` */
  pure?: boolean;
  /** per build */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** a fixed-output derivation was fetched or built: its output hash (`sha256:...`), for bramble.lock */
  onFixedOutput?: (drvHash: string, drv: Derivation, hash: string) => void;
}

export interface BuildResult {
  status: "built" | "failed" | "cancelled";
  /** derivation hash → output name → store path, for everything built or cached */
  outputs: Map<string, Record<string, string>>;
  /** derivations whose build failed */
  failed: string[];
}

/** The derivation hashes a derivation's templates refer to. */
export function dependencies(drv: Derivation): string[] {
  return [...new Set(derivationInputs(drv).map((r) => r.hash))];
}

/**
 * A built derivation's identity once its inputs are known: templates replaced by the inputs'
 * store names (which are content hashes). Equal inputs rebuilt to equal bytes → equal key.
 */
export function resolvedKey(drv: Derivation, names: (hash: string, output: string) => string): string {
  const sub = (s: string) => substituteTemplates(s, (r) => names(r.hash, r.output));
  const resolved = { ...drv, builder: sub(drv.builder), args: drv.args.map(sub), env: Object.fromEntries(Object.entries(drv.env).map(([k, v]) => [k, sub(v)])) };
  return shortHash(`resolved:${canonicalJSON(resolved)}`);
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
  const stores = new StoreIndex(engine, backends);
  const built = engine.db.drvOutputsMany([...closure]);
  // A registered path that vanished from disk (deleted by hand) is no longer valid.
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
    nodes: [...cachedNodes, ...needed].map((h) => ({ hash: h, name: drvs.get(h)!.name, backend: plan.get(h)?.backend ?? "cached" })),
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
    emit({ type: "failed", runId, hash: h, buildId: null, exitCode: null, error: `${drvs.get(h)!.name} is impure: it sees the host paths ${paths} (sandbox_paths), and --pure refuses impure derivations`, logTail: [] });
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
  // While this run builds, gc stays away (it would not know which inputs are in use).
  const marker = join(engine.layout.lockDir, `run-${process.pid}-${runId.replace(/[^A-Za-z0-9_-]/g, "_")}.lock`);
  if (needed.size) writeFileSync(marker, `${process.pid}\n`);

  // The graph among needed nodes.
  const waiting = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const h of needed) {
    let n = 0;
    for (const d of deps(h)) {
      if (!needed.has(d)) continue;
      n++;
      let list = dependents.get(d);
      if (!list) dependents.set(d, (list = []));
      list.push(h);
    }
    waiting.set(h, n);
  }
  const ready = [...needed].filter((h) => waiting.get(h) === 0);
  const stopper = new AbortController();
  const onAbort = () => stopper.abort();
  if (req.signal?.aborted) stopper.abort();
  req.signal?.addEventListener("abort", onAbort, { once: true });
  const done = new Set<string>();
  let nBuilt = 0;
  let nCached = cachedNodes.length - failed.length; // cached roots that could not come here failed
  let stopping = false;

  const skipDependents = (h: string, why: string) => {
    const q = [...(dependents.get(h) ?? [])];
    while (q.length) {
      const d = q.pop()!;
      if (done.has(d)) continue;
      done.add(d);
      emit({ type: "failed", runId, hash: d, buildId: null, exitCode: null, error: why, logTail: [] });
      q.push(...(dependents.get(d) ?? []));
    }
  };

  await new Promise<void>((resolveAll) => {
    let active = 0;
    const pump = () => {
      if (stopper.signal.aborted) stopping = true;
      while (!stopping && ready.length && active < jobs) {
        const h = ready.shift()!;
        active++;
        buildOne(engine, stores, req, h, drvs.get(h)!, plan.get(h)!.backend!, outputs, !req.keepRemote && wantedSet.has(h), stopper.signal, emit).then(
          (r) => {
            active--;
            done.add(h);
            if (r.status === "built" || r.status === "cached") {
              if (r.status === "built") nBuilt++;
              else nCached++;
              for (const d of dependents.get(h) ?? []) {
                const left = waiting.get(d)! - 1;
                waiting.set(d, left);
                if (left === 0) ready.push(d);
              }
            } else if (r.status === "failed") {
              failed.push(h);
              if (req.keepGoing) skipDependents(h, `dependency ${drvs.get(h)!.name} (${h}) failed`);
              else {
                stopping = true;
                stopper.abort();
              }
            }
            pump();
          },
          (e: unknown) => {
            // A bug, not a build failure: report it on the node and stop.
            active--;
            done.add(h);
            failed.push(h);
            emit({ type: "failed", runId, hash: h, buildId: null, exitCode: null, error: `internal error: ${(e as Error).stack ?? e}`, logTail: [] });
            stopping = true;
            stopper.abort();
            pump();
          },
        );
      }
      if (active === 0) resolveAll();
    };
    pump();
  });
  req.signal?.removeEventListener("abort", onAbort);
  rmSync(marker, { force: true });

  const cancelledRun = !!req.signal?.aborted;
  for (const h of needed) {
    if (done.has(h)) continue;
    emit({ type: "cancelled", runId, hash: h, buildId: null });
  }
  const status: BuildResult["status"] = cancelledRun ? "cancelled" : failed.length ? "failed" : "built";
  return finish(status, nBuilt, nCached);
}

type NodeResult = { status: "built" | "cached" | "failed" | "cancelled" };

async function buildOne(
  engine: Engine,
  stores: StoreIndex,
  req: BuildRequest,
  h: string,
  drv: Derivation,
  backendName: string,
  outputs: Map<string, Record<string, string>>,
  /** a requested output: bring it to the local store before reporting it */
  wantLocal: boolean,
  signal: AbortSignal,
  emit: (e: BuildEvent) => void,
): Promise<NodeResult> {
  const { runId } = req;
  const fail = (error: string, buildId: number | null = null, exitCode: number | null = null, logTail: string[] = [], keptDir?: string): NodeResult => {
    emit({ type: "failed", runId, hash: h, buildId, exitCode, error, logTail, ...(keptDir ? { keptDir } : {}) });
    return { status: "failed" };
  };
  if (signal.aborted) {
    emit({ type: "cancelled", runId, hash: h, buildId: null });
    return { status: "cancelled" };
  }
  // Inputs: their store names, and their runtime closure.
  const name = (dh: string, o: string) => {
    const n = outputs.get(dh)?.[o];
    if (!n) throw new Error(`${drv.name} needs output ${o} of ${dh}, which is not built`);
    return n;
  };
  const backend: Backend | undefined = stores.backends.find((b) => b.name === backendName) ?? (backendName === drv.builder ? engine.builtin : undefined);
  if (!backend) return fail(`backend ${backendName} is not available`);
  const dest = backend.store;
  let key: string;
  let inputNames: string[];
  try {
    key = resolvedKey(drv, name);
    inputNames = [...new Set(derivationInputs(drv).map((r) => name(r.hash, r.output)))];
  } catch (e) {
    return fail((e as Error).message);
  }
  const report = async (type: "built" | "cached", names: Record<string, string>, buildId?: number, remote?: string): Promise<NodeResult> => {
    if (wantLocal) {
      try {
        await stores.bring(engine.store, Object.values(names));
      } catch (e) {
        return fail(`${drv.name} was ${type === "built" ? "built" : "found"} on ${stores.holding(Object.values(names)[0]!) ?? backendName}, but ${(e as Error).message}`, buildId ?? null);
      }
    }
    const paths = Object.fromEntries(Object.entries(names).map(([o, n]) => [o, stores.pathOf(n)]));
    if (type === "built") emit({ type: "built", runId, hash: h, buildId: buildId!, outputs: paths });
    else emit({ type: "cached", runId, hash: h, outputs: paths, ...(remote ? { remote } : {}) });
    return { status: type };
  };
  const cutoff = async (): Promise<NodeResult | undefined> => {
    const real = engine.db.realisationRecorded(key);
    if (!real || !drv.outputs.every((o) => real[o] && stores.holding(real[o]) !== undefined)) return undefined;
    engine.db.linkOutputs(h, real);
    outputs.set(h, real);
    return report("cached", real);
  };
  const early = await cutoff();
  if (early) return early;
  let release: () => void;
  try {
    release = await lock(join(engine.layout.lockDir, `drv-${key}.lock`), signal);
  } catch {
    emit({ type: "cancelled", runId, hash: h, buildId: null });
    return { status: "cancelled" };
  }
  let log: BuildLog | undefined;
  try {
    const again = await cutoff(); // another process built it while we waited
    if (again) return again;
    // The inputs' closure comes into the store of the backend that builds (only what it lacks).
    let inputClosure: string[];
    try {
      await stores.bring(dest, inputNames, signal);
      inputClosure = [...(await dest.closure(inputNames, { signal }))];
    } catch (e) {
      if (signal.aborted) {
        emit({ type: "cancelled", runId, hash: h, buildId: null });
        return { status: "cancelled" };
      }
      return fail(`${drv.name} on ${backendName}: ${(e as Error).message}`);
    }
    const sub = (s: string) => substituteTemplates(s, (r) => dest.path(name(r.hash, r.output)));
    const record = engine.db.startBuild(
      {
        runId,
        drvHash: h,
        name: drv.name,
        backend: backendName,
        platform: drv.platform,
        system: drv.system,
        command: { builder: sub(drv.builder), args: drv.args.map(sub), env: Object.fromEntries(Object.entries(drv.env).map(([k, v]) => [k, sub(v)])) },
      },
      (id) => logFileFor(engine, id),
    );
    const id = record.id;
    log = new BuildLog(record.logFile);
    const buildLog = log;
    emit({ type: "started", runId, hash: h, buildId: id, backend: backendName });
    const onLine = (line: string) => {
      if (buildLog.write(line)) emit({ type: "log", runId, hash: h, buildId: id, line });
    };
    try {
      const outcome = await buildWithRemoteCache(stores.backends, backend, {
        buildId: id,
        drvHash: h,
        drv,
        inputClosure,
        resolve: (r) => name(r.hash, r.output),
        projectRoot: req.projectRoot,
        // A project's host paths reach a build only through its derivation's hostPaths.
        sandboxPaths: [],
        keepFailed: !!req.keepFailed,
        timeoutMs: req.timeoutMs,
        signal,
        log: onLine,
        register: (infos: Map<string, PathInfo>) => {
          killPoint("db-write");
          engine.store.writeDrv(h, drv);
          engine.db.putDerivations(new Map([[h, drv]]));
          engine.db.registerOutputs({
            store: stores.idOf(dest),
            drvHash: h,
            resolved: key,
            outputs: [...infos].map(([output, info]) => ({ output, info })),
            buildId: id,
          });
        },
      }, req.remoteCache);
      const names = Object.fromEntries([...outcome.outputs].map(([o, i]) => [o, i.name]));
      outputs.set(h, names);
      if (isFixedOutput(drv)) {
        const first = outcome.outputs.get(drv.outputs[0] ?? "out");
        if (first) req.onFixedOutput?.(h, drv, first.hash);
      }
      return await report(outcome.remote?.cached ? "cached" : "built", names, id, outcome.remote?.cached ? outcome.remote.backend : undefined);
    } catch (e) {
      const f = e instanceof BuildFailure ? e : new BuildFailure(`internal error: ${(e as Error).stack ?? e}`);
      if (f.cancelled || (signal.aborted && f.message === "cancelled")) {
        engine.db.finishBuild(id, { status: "cancelled", error: "cancelled" });
        emit({ type: "cancelled", runId, hash: h, buildId: id });
        return { status: "cancelled" };
      }
      log.write(`bramble: ${f.message}`);
      engine.db.finishBuild(id, { status: "failed", exitCode: f.exitCode, error: f.message, keptDir: f.keptDir ?? null });
      return fail(f.message, id, f.exitCode, [...log.tail], f.keptDir);
    }
  } finally {
    log?.close();
    release();
  }
}

/**
 * Which store holds what, for one run: the local store (the `paths` table) and each
 * configured backend's store (`store_paths`, as this machine last wrote or read it), and
 * the one way paths move between them (copyClosure, through the local store).
 */
export class StoreIndex {
  private readonly byId = new Map<string, Store>();
  /** copies in flight, so two builds needing one input copy it once */
  private readonly inflight = new Map<string, Promise<void>>();

  /** store id → its backend, asked once per run whether it is available */
  private readonly backendOf = new Map<string, Backend>();
  private readonly usable = new Map<string, boolean>();

  constructor(
    private readonly engine: Engine,
    readonly backends: Backend[],
  ) {
    this.byId.set(LOCAL_STORE, engine.store);
    for (const b of backends) {
      if (b.store === engine.store || this.byId.has(b.store.backend)) continue;
      this.byId.set(b.store.backend, b.store);
      this.backendOf.set(b.store.backend, b);
    }
  }

  /** A store can give its paths if its backend is configured and available (else: rebuild, like a substituter that is down). */
  private reachable(id: string): boolean {
    if (id === LOCAL_STORE) return true;
    const b = this.backendOf.get(id);
    if (!b) return false;
    let ok = this.usable.get(id);
    if (ok === undefined) this.usable.set(id, (ok = b.availability().available));
    return ok;
  }

  idOf(store: Store): string {
    return store === this.engine.store ? LOCAL_STORE : store.backend;
  }

  /** The first store holding a valid `name` (local first), among the stores reachable now. */
  holding(name: string): string | undefined {
    if (this.engine.store.has(name)) return LOCAL_STORE;
    return this.engine.db.storesOf(name).find((id) => this.reachable(id));
  }

  /** Where a store name is (local path when it is here), for events and results. */
  pathOf(name: string): string {
    const id = this.holding(name);
    return (id ? this.byId.get(id)! : this.engine.store).path(name);
  }

  /** Make `names` and their closures valid in `dest`, copying from the stores that hold them. */
  async bring(dest: Store, names: string[], signal?: AbortSignal): Promise<void> {
    if (!names.length) return;
    const destId = this.idOf(dest);
    const have = await dest.queryPathInfos(names, { signal });
    const bySource = new Map<string, string[]>();
    for (const n of names) {
      if (have.has(n)) continue;
      const src = this.holding(n);
      if (!src || src === destId) throw new Error(`${n} is in no store that bramble can reach now (run the build again to rebuild it)`);
      let list = bySource.get(src);
      if (!list) bySource.set(src, (list = []));
      list.push(n);
    }
    for (const [src, list] of bySource) {
      if (signal?.aborted) throw new Error("cancelled");
      const key = `${src}>${destId}:${[...list].sort().join(",")}`;
      let p = this.inflight.get(key);
      if (!p) {
        p = this.copy(this.byId.get(src)!, src, dest, destId, list, signal).finally(() => this.inflight.delete(key));
        this.inflight.set(key, p);
      }
      await p;
    }
  }

  private async copy(from: Store, fromId: string, to: Store, toId: string, names: string[], signal?: AbortSignal): Promise<void> {
    try {
      // Remote stores record in the DB what they are found to hold.
      await copyClosure(from, to, names, { signal });
    } catch (e) {
      // The DB said the other store had them; if it does not (wiped, collected), forget it.
      if (e instanceof MissingPathError && fromId !== LOCAL_STORE) this.engine.db.deleteStorePaths(fromId, e.names);
      throw new Error(`copying ${names.length === 1 ? names[0] : `${names.length} paths`} from the ${fromId} store to the ${toId} store failed: ${(e as Error).message}`);
    }
  }
}
