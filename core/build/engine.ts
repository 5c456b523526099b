// One engine per process and BRAMBLE_PATH: the directories, the database, the local store
// and the backends. Opening it also cleans up after processes that were killed.
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, lstatSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import type { BackendInfo } from "../model/types.js";
import { Db } from "../db/db.js";
import { probeAll, type Backend } from "../builders/backend.js";
import { configuredBackends, projectBackends, type BackendConfig } from "../builders/backends-config.js";
import { BuiltinBackend } from "../builders/fetch.js";
import { LocalBackend } from "../builders/local.js";
import { dropStoreViews } from "../builders/store-view.js";
import { dropSpares } from "../builders/launcher.js";
import { defaultHome, isStoreName, layout, type Layout } from "../store/layout.js";
import { pidAlive, tryLock, unlock } from "../store/lock.js";
import { LocalStore, removeTree } from "../store/store.js";

export interface Engine {
  home: string;
  layout: Layout;
  db: Db;
  store: LocalStore;
  /** the build backends every project has, in planning order (local first) */
  backends: Backend[];
  /**
   * The backends of a project's evaluations: the engine's, with the project's `[backends.*]`
   * added or replacing same-named ones. A new list per project (another project never sees
   * them), kept for the next evaluation of the same tables so their probes' answers are too.
   */
  backendsFor(configs: BackendConfig[]): Backend[];
  /** runs the built-in builders (fetch_url, fetch_git) in-process */
  builtin: BuiltinBackend;
  close(): void;
}

export interface CleanupReport {
  tempDirs: number;
  staleLocks: number;
  cancelledBuilds: number;
  invalidPaths: number;
}

export function openEngine(brambleHome?: string): Engine {
  const L = layout(brambleHome ?? defaultHome());
  for (const d of [L.home, L.storeDir, L.varDir, L.logDir, L.tmpDir, L.lockDir]) mkdirSync(d, { recursive: true });
  try {
    lstatSync(L.storeLink);
  } catch {
    try {
      symlinkSync(basename(L.storeDir), L.storeLink);
    } catch {
      /* another process made it */
    }
  }
  const db = new Db(L.dbFile, L.storeDir);
  const store = new LocalStore(L, db);
  const local = new LocalBackend(store);
  const backends = [local, ...configuredBackends({ store })];
  const perProject = new Map<string, Backend[]>();
  const engine: Engine = {
    home: L.home,
    layout: L,
    db,
    store,
    backends,
    backendsFor(configs) {
      if (!configs.length) return backends;
      const key = JSON.stringify(configs);
      let list = perProject.get(key);
      if (list) {
        perProject.delete(key); // most recently used last
      } else {
        list = projectBackends(backends, configs, { store });
        if (perProject.size >= 16) perProject.delete(perProject.keys().next().value!);
      }
      perProject.set(key, list);
      return list;
    },
    builtin: new BuiltinBackend(store),
    close: () => {
      dropStoreViews(store.dir);
      dropSpares();
      db.close();
    },
  };
  cleanup(engine);
  return engine;
}

function ownerPid(entry: string): number {
  return Number.parseInt(entry.split(/[-.]/)[0] ?? "", 10);
}

/** Remove what killed processes left behind; the store and DB stay consistent. */
export function cleanup(engine: Engine): CleanupReport {
  const L = engine.layout;
  const report: CleanupReport = { tempDirs: 0, staleLocks: 0, cancelledBuilds: 0, invalidPaths: 0 };
  for (const e of readdirSync(L.tmpDir)) {
    const pid = ownerPid(e);
    if (Number.isInteger(pid) && pid !== process.pid && !pidAlive(pid)) {
      removeTree(join(L.tmpDir, e));
      report.tempDirs++;
    }
  }
  for (const e of readdirSync(L.lockDir)) {
    const file = join(L.lockDir, e);
    let pid = NaN;
    try {
      pid = Number.parseInt(readFileSync(file, "utf8"), 10);
    } catch {
      continue;
    }
    // An empty lock is being taken right now (created, pid not yet written): not stale.
    if (Number.isNaN(pid) && Date.now() - (statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0) < 5000) continue;
    if (pidAlive(pid)) continue;
    if (e.includes(".stale.")) {
      rmSync(file, { force: true }); // moved aside by a breaker that died
      report.staleLocks++;
    } else if (tryLock(file)) {
      // tryLock breaks a stale lock safely (moved aside, re-checked): a lock another process
      // took since we read the dead pid is left alone. Then let go of it.
      unlock(file);
      report.staleLocks++;
    }
  }
  report.cancelledBuilds = engine.db.cancelOrphanedBuilds(pidAlive);
  if (report.tempDirs || report.cancelledBuilds || report.staleLocks) {
    // A crash may have landed between moving an output into the store and registering it:
    // such a path is complete but unregistered. Remove it unless someone holds its lock.
    const valid = new Set(engine.db.allPaths().map((p) => p.name));
    for (const e of readdirSync(L.storeDir)) {
      if (e.endsWith(".tmp")) {
        const pid = Number.parseInt(e.split(".").at(-2) ?? "", 10);
        if (!pidAlive(pid)) rmSync(join(L.storeDir, e), { force: true });
        continue;
      }
      if (!isStoreName(e) || e.endsWith(".drv") || valid.has(e)) continue;
      // `valid` was read before the listing: another process may have moved this path in and
      // registered it since. Under the path's lock (which it holds for both), look again.
      const pathLock = join(L.lockDir, `path-${e}.lock`);
      if (!tryLock(pathLock)) continue;
      try {
        if (engine.db.pathInfo(e)) continue;
        removeTree(join(L.storeDir, e));
        report.invalidPaths++;
      } finally {
        unlock(pathLock);
      }
    }
  }
  return report;
}

/**
 * output name → store path, if this derivation has been built and its outputs are valid: in
 * the local store, else in the store of an available backend that holds them all (its path
 * there). A build treats both as built (cached).
 */
export function nodeOutputs(engine: Engine, drvHash: string, backends: Backend[] = engine.backends): Record<string, string> | undefined {
  const names = engine.db.drvOutputs(drvHash);
  if (names) return Object.fromEntries(Object.entries(names).map(([o, n]) => [o, engine.store.path(n)]));
  const recorded = engine.db.drvOutputsRecorded([drvHash]).get(drvHash);
  if (!recorded) return undefined;
  for (const b of backends) {
    if (b.store === engine.store || !b.availability().available) continue;
    const id = b.store.backend;
    if (Object.values(recorded).every((n) => engine.db.storesOf(n).includes(id))) {
      return Object.fromEntries(Object.entries(recorded).map(([o, n]) => [o, b.store.path(n)]));
    }
  }
  return undefined;
}

/** The backends' info after asking each that needs the network (in parallel, each bounded). */
export async function backendInfos(backends: Backend[]): Promise<BackendInfo[]> {
  await probeAll(backends);
  return backends.map((b) => b.info());
}
