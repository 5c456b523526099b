// The service's local methods: what only an in-process client (the CLI) may ask for, because
// they read or change this machine's store outside any project: a build's log by name, the
// history by name, why-depends, gc, and the store verbs (path, closure, verify, copy, add,
// roots), and build --check / --just-parse. They are validated with zod like the API's methods
// (schema.ts localRequests), but no transport (IPC, WebSocket) can reach them: `dispatch`
// knows only `Service`'s methods.
import { basename } from "node:path";
import { openEngine, type Engine } from "../build/engine.js";
import { readLogChunk } from "../store/logs.js";
import { isStoreName } from "../store/layout.js";
import { readTempRoots } from "../store/temp-roots.js";
import type { Store } from "../store/store.js";
import type { Realisation } from "../store/store-api.js";
import type { Backend } from "../builders/backend.js";
import { copyClosure } from "../store/copy.js";
import { fetchPinning, storeAdd } from "../build/store-add.js";
import { checkBuild } from "../build/check.js";
import type { Db } from "../db/db.js";
import type { Derivation } from "../derivation/derivation.js";
import { createContext, evaluate } from "../project/evaluate.js";
import { fetchDependencies } from "../project/dependencies.js";
import { loadProject } from "../project/project.js";
import { DerivationNameError, resolveAmong, resolveDerivation } from "../db/naming.js";
import { makeOutLink, outLinkRoots } from "../store/out-links.js";
import { approvePaths } from "../builders/host-access.js";
import { useHashWorkers } from "../store/hash-pool.js";
import { whyDepends, type WhyNode } from "../store/why-depends.js";
import { localRequests, type WhyDependsNode, type LocalMethod, type LocalParams, type LocalResults, type LocalService } from "./schema.js";
import type { ServiceHost } from "./service.js";

/** Bad arguments: the CLI prints "bramble: MESSAGE" and exits 2. */
export class UsageProblem extends Error {}
/** The command ran and the answer is "no" / "broken": the CLI prints the message and exits 1. */
class Failure extends Error {}

/** A store path, store name, derivation hash (or prefix) or derivation name → store names. */
function resolveStoreNames(engine: Engine, query: string): string[] {
  const q = query.replace(/\/+$/, "");
  const inStore = q.startsWith(engine.store.dir + "/") ? q.slice(engine.store.dir.length + 1).split("/")[0]! : undefined;
  for (const cand of [inStore, basename(q), q]) {
    if (cand && isStoreName(cand) && engine.store.has(cand)) return [cand];
  }
  // A derivation: a name, a full hash or a unique prefix (naming.ts), and its outputs here.
  let drv;
  try {
    drv = resolveDerivation(engine.db, q);
  } catch (e) {
    if (e instanceof DerivationNameError) throw new Failure(e.message.startsWith("no derivation") ? `${e.message}, and it is not a store path` : e.message);
    throw e;
  }
  const outs = engine.db.drvOutputs(drv.hash);
  if (!outs) throw new Failure(`${drv.name} (${drv.hash}, ${drv.system}) has no outputs in the store: build it first`);
  return Object.values(outs);
}

/** The derivation hash a query names (a name, a hash, a unique prefix); a Failure listing candidates otherwise. */
function derivationHashOf(engine: Engine, query: string): string {
  try {
    return resolveDerivation(engine.db, query).hash;
  } catch (e) {
    if (e instanceof DerivationNameError) throw new Failure(e.message);
    throw e;
  }
}

/** The newest build of the derivation a query names; a build recorded before its derivation (running now) by name or prefix. */
function lastBuildNamed(engine: Engine, query: string) {
  try {
    return engine.db.lastBuildOf(resolveDerivation(engine.db, query).hash);
  } catch (e) {
    if (!(e instanceof DerivationNameError) || !e.message.startsWith("no derivation")) throw e instanceof DerivationNameError ? new Failure(e.message) : e;
    return engine.db.lastBuildOf(query);
  }
}

/**
 * After a copy between two BRAMBLE_PATHs: the target learns which derivations the copied
 * paths are outputs of (drv_outputs, realisations, the derivations themselves), so it uses
 * the copy instead of planning the build again.
 */
/** The realisations whose outputs are among `names`, from a database. */
function realisationsOf(db: Db, names: string[]): Realisation[] {
  const out: Realisation[] = [];
  for (let i = 0; i < names.length; i += 500) {
    const chunk = names.slice(i, i + 500);
    const marks = chunk.map(() => "?").join(",");
    out.push(...(db.sql.prepare(`SELECT resolved, output, path FROM realisations WHERE path IN (${marks})`).all(...chunk) as Realisation[]));
  }
  return out;
}

function copyRealisations(from: Db, to: Db, names: string[]): number {
  let n = 0;
  for (let i = 0; i < names.length; i += 500) {
    const chunk = names.slice(i, i + 500);
    const marks = chunk.map(() => "?").join(",");
    const outs = from.sql.prepare(`SELECT drv_hash, output, path FROM drv_outputs WHERE path IN (${marks})`).all(...chunk) as {
      drv_hash: string;
      output: string;
      path: string;
    }[];
    const reals = from.sql.prepare(`SELECT resolved, output, path FROM realisations WHERE path IN (${marks})`).all(...chunk) as {
      resolved: string;
      output: string;
      path: string;
    }[];
    const drvs = new Map<string, Derivation>();
    for (const o of outs) {
      const d = from.getDerivation(o.drv_hash);
      if (d) drvs.set(o.drv_hash, d);
    }
    to.putDerivations(drvs);
    for (const o of outs) to.linkOutputs(o.drv_hash, { [o.output]: o.path });
    const put = to.sql.prepare("INSERT OR REPLACE INTO realisations (resolved, output, path) VALUES (?, ?, ?)");
    to.sql.transaction(() => {
      for (const r of reals) put.run(r.resolved, r.output, r.path);
    })();
    n += outs.length;
  }
  return n;
}

/** The gc roots: explicit roots plus every output of the latest evaluation of each project/function/target. */
function gcRoots(engine: Engine): string[] {
  const roots = new Set(engine.db.explicitRoots());
  const live = [...engine.db.liveEvaluationDrvs()];
  for (const outs of engine.db.drvOutputsMany(live).values()) for (const n of Object.values(outs)) roots.add(n);
  // Paths a live `bramble shell` or `bramble run` is using.
  for (const n of readTempRoots(engine.layout.varDir)) roots.add(n);
  // What `bramble build -o` result links point at.
  for (const n of outLinkRoots(engine.layout.varDir, engine.store.dir)) roots.add(n);
  return [...roots];
}

/** The store of a backend by name (default: the local store). */
function storeNamed(engine: Engine, name: string | undefined): Store {
  if (name === undefined || name === "local") return engine.store;
  // reapi:NAME: the CAS and Action Cache of the reapi backend NAME (docs/remote.md)
  if (name.startsWith("reapi:")) {
    const b = engine.backends.find((x) => x.kind === "reapi" && x.name === name.slice(6)) as (Backend & { casStore?: () => Store }) | undefined;
    if (!b?.casStore)
      throw new UsageProblem(
        `unknown store ${name}: no reapi backend ${name.slice(6)} (reapi backends: ${
          engine.backends
            .filter((x) => x.kind === "reapi")
            .map((x) => x.name)
            .join(", ") || "none"
        })`,
      );
    return b.casStore();
  }
  const backend = engine.backends.find((b) => b.name === name);
  if (!backend) throw new UsageProblem(`unknown store ${name}: use a backend name (${engine.backends.map((b) => b.name).join(", ")}) or path:<BRAMBLE_PATH>`);
  return backend.store;
}

/** What an in-process client hears while a local method runs (not part of any request). */
export interface LocalHooks {
  /** build.check evaluated and is about to build again (the CLI says so before the long part) */
  checkStarted?(): void;
}

/** The local methods over one service's engine. */
function localService(engine: Engine, hooks: LocalHooks = {}): LocalService {
  return {
    async "log.find"({ query }) {
      const build = /^\d+$/.test(query) ? engine.db.getBuild(Number(query)) : lastBuildNamed(engine, query);
      if (!build) throw new Failure(`no build of ${query} is recorded`);
      return { buildId: build.id };
    },
    async "log.chunk"({ buildId, fromLine }) {
      return readLogChunk(engine, buildId, fromLine);
    },
    async "history.named"({ limit, query }) {
      const drvHash = query === undefined ? undefined : derivationHashOf(engine, query);
      const builds = engine.db.listBuilds({ limit, drvHash });
      const systems: Record<string, string> = {};
      for (const b of builds) {
        const s = engine.db.getDerivation(b.drvHash)?.system;
        if (s !== undefined) systems[b.drvHash] = s;
      }
      return { builds, systems };
    },
    async "store.whyDepends"({ a, b, all, precise }) {
      const froms = resolveStoreNames(engine, a);
      const tos = resolveStoreNames(engine, b);
      const store = { references: (n: string) => engine.store.references(n), path: (n: string) => engine.store.path(n) };
      const withPaths = (n: WhyNode): WhyDependsNode => ({
        path: engine.store.path(n.name),
        ...(n.hits ? { hits: n.hits } : {}),
        children: n.children.map(withPaths),
      });
      for (const f of froms) {
        for (const t of tos) {
          const tree = whyDepends(store, f, t, { all, precise });
          if (tree) return withPaths(tree);
        }
      }
      throw new Failure(`${a} does not depend on ${b}`);
    },
    async "store.gc"({ dryRun, store: name }) {
      const store = storeNamed(engine, name);
      const r = await store.gc({ dryRun: !!dryRun, roots: gcRoots(engine), liveDerivations: engine.db.liveEvaluationDrvs() });
      return { dryRun: r.dryRun, deleted: r.deleted.map((n) => store.path(n)), bytes: r.bytes };
    },
    async "store.add"({ path }) {
      return storeAdd(engine, path);
    },
    async "store.paths"({ query }) {
      return query === undefined ? [engine.store.dir] : resolveStoreNames(engine, query).map((n) => engine.store.path(n));
    },
    async "store.closure"({ paths }) {
      const names = paths.flatMap((p) => resolveStoreNames(engine, p));
      return [...engine.store.closureSync(names)].sort().map((n) => ({ path: engine.store.path(n), size: engine.db.pathInfo(n)?.size ?? 0 }));
    },
    async "store.verify"({ repair, store: name }) {
      const store = storeNamed(engine, name);
      const problems = await store.verify({ repair: !!repair });
      return problems.map((p) => ({ ...p, path: store.path(p.name) }));
    },
    async "store.copy"({ from: fromSpec, to: toSpec, paths }) {
      const open = (spec: string): { store: Store; db?: Db; close(): void } => {
        if (spec.startsWith("path:")) {
          const other = openEngine(spec.slice(5));
          return { store: other.store, db: other.db, close: () => other.close() };
        }
        if (spec === "local") return { store: engine.store, db: engine.db, close: () => {} };
        return { store: storeNamed(engine, spec), close: () => {} };
      };
      const from = open(fromSpec);
      let to: ReturnType<typeof open> | undefined;
      try {
        to = open(toSpec);
        const names: string[] = [];
        for (const p of paths) {
          if (from.store === engine.store) {
            names.push(...resolveStoreNames(engine, p));
            continue;
          }
          const n = p.startsWith(from.store.dir + "/") ? p.slice(from.store.dir.length + 1).split("/")[0]! : basename(p);
          if (!(await from.store.queryPathInfos([n])).has(n)) throw new Failure(`${p} is not valid in the ${from.store.backend} store`);
          names.push(n);
        }
        const { copied, closure } = await copyClosure(from.store, to.store, names);
        // The target store's database learns which derivations these are the outputs of.
        let linked = from.db && to.db && from.db !== to.db ? copyRealisations(from.db, to.db, closure) : 0;
        // A store with no database of ours (docker, ssh, reapi) keeps them beside the paths.
        if (from.db && !to.db && to.store.addRealisations) {
          const reals = realisationsOf(from.db, closure);
          await to.store.addRealisations(reals);
          linked += reals.length;
        }
        return { copied: copied.map((n) => to!.store.path(n)), linked };
      } finally {
        from.close();
        to?.close();
      }
    },
    async "store.roots"({ paths, keep }) {
      for (const p of paths) for (const n of resolveStoreNames(engine, p)) keep ? engine.db.addRoot(n) : engine.db.removeRoot(n);
      return {};
    },
    async "build.check"({ project: dir, moduleArg, target, jobs, only }) {
      const project = loadProject(dir);
      const packages = await fetchDependencies(project, (drv) => fetchPinning(engine, drv, project.root));
      const ev = evaluate(createContext(project, { target, packages }), [moduleArg], project.root);
      // --rebuild NAME: that derivation (a name, a hash or a unique prefix, naming.ts) and what it needs.
      if (only !== undefined) {
        try {
          ev.roots = [resolveAmong(only, ev.drvs).hash];
        } catch (err) {
          if (err instanceof DerivationNameError) throw new Failure(`--rebuild: ${err.message}`);
          throw err;
        }
      }
      hooks.checkStarted?.();
      return checkBuild(engine, { drvs: ev.drvs, roots: ev.roots, projectRoot: project.root, jobs });
    },
    async "project.parse"({ project: dir, moduleArg }) {
      const project = loadProject(dir);
      const packages = await fetchDependencies(project, (drv) => fetchPinning(engine, drv, project.root));
      const ctx = createContext(project, { packages });
      evaluate(ctx, [moduleArg], dir, { justParse: true });
      return { modules: ctx.modules.size };
    },
    async "project.allowPaths"({ project: dir }) {
      const project = loadProject(dir);
      if (project.sandboxPaths.length === 0) return { root: project.root, paths: [] };
      return { root: project.root, paths: project.sandboxPaths, file: approvePaths(project.root, project.sandboxPaths) };
    },
    async "derivation.resolve"({ query }) {
      try {
        return { hash: resolveDerivation(engine.db, query).hash };
      } catch (err) {
        if (!(err instanceof DerivationNameError)) throw err;
        return / systems; give a hash|is the start of/.test(err.message) ? { ambiguous: err.message } : {};
      }
    },
    async "outLink.make"({ link, target }) {
      // Nix's result symlinks, each an indirect gc root (core/store/out-links.ts).
      makeOutLink(engine.layout.varDir, link, target);
      return {};
    },
    async "hashWorkers.use"({ script }) {
      // Output hashing in worker threads (bramble serve), so a large output never stalls another client.
      useHashWorkers(script);
      return {};
    },
  };
}

/** A typed caller of a host's local methods, validating each request as `dispatch` does. */
export function localCaller(host: ServiceHost, hooks: LocalHooks = {}) {
  const local = localService(host.engine, hooks);
  return async <M extends LocalMethod>(method: M, params: LocalParams<M>): Promise<LocalResults[M]> => {
    const result = localRequests[method].safeParse(params ?? {});
    if (!result.success) {
      const issue = result.error.issues[0]!;
      throw new UsageProblem(`invalid ${method} request: ${issue.path.join(".") || "(params)"}: ${issue.message}`);
    }
    return (local[method] as (p: LocalParams<M>) => Promise<LocalResults[M]>)(result.data as LocalParams<M>);
  };
}
