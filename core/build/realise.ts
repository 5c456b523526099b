// The realiser: makes one planned derivation's outputs valid. Early cutoff (its resolved key
// already realised in a store bramble can reach), the derivation's lock (and a second look
// under it), its inputs' closure brought into the store of the backend that builds, the
// build record and log, the backend call, and the outputs' registration (one DB transaction,
// while the store still holds their locks). Requested outputs are brought to the local store
// before they are reported. One node at a time: the graph walk (walk.ts) calls it.
import { join } from "node:path";
import type { BuildEvent, PathInfo } from "../model/types.js";
import { canonicalJSON, derivationInputs, isFixedOutput, shortHash, substituteTemplates, type Derivation } from "../derivation/derivation.js";
import { BuildFailure, type Backend } from "../builders/backend.js";
import { lock } from "../store/lock.js";
import { copyClosure } from "../store/copy.js";
import type { Engine } from "./engine.js";
import { BuildLog, logFileFor } from "../store/logs.js";
import { buildWithRemoteCache } from "../builders/reapi/cache.js";
import { killPoint } from "../store/kill-points.js";
import type { StoreLocator } from "./locator.js";

/** What the realiser needs of a build request. */
export interface RealiseRequest {
  runId: string;
  projectRoot: string;
  keepFailed?: boolean;
  /** a reapi backend whose Action Cache local builds consult and fill (`--remote-cache`); false: none, even if configured */
  remoteCache?: string | false;
  /** per build */
  timeoutMs?: number;
  /** a fixed-output derivation was fetched or built: its output hash (`sha256:...`), for bramble.lock */
  onFixedOutput?: (drvHash: string, drv: Derivation, hash: string) => void;
  /**
   * Hold store names as temporary gc roots for the rest of the run (temp-roots.ts): the names
   * are held when it returns, and its promise settles once no gc runs.
   */
  hold?: (names: string[]) => Promise<void>;
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
  const resolved = {
    ...drv,
    builder: sub(drv.builder),
    args: drv.args.map(sub),
    env: Object.fromEntries(Object.entries(drv.env).map(([k, v]) => [k, sub(v)])),
  };
  return shortHash(`resolved:${canonicalJSON(resolved)}`);
}

export type NodeResult = { status: "built" | "cached" | "failed" | "cancelled" };

export async function realise(
  engine: Engine,
  stores: StoreLocator,
  req: RealiseRequest,
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
        return fail(
          `${drv.name} was ${type === "built" ? "built" : "found"} on ${stores.holding(Object.values(names)[0]!) ?? backendName}, but ${(e as Error).message}`,
          buildId ?? null,
        );
      }
    }
    const paths = Object.fromEntries(Object.entries(names).map(([o, n]) => [o, stores.pathOf(n)]));
    if (type === "built") emit({ type: "built", runId, hash: h, buildId: buildId!, outputs: paths });
    else emit({ type: "cached", runId, hash: h, outputs: paths, ...(remote ? { remote } : {}) });
    return { status: type };
  };
  const cutoff = async (): Promise<NodeResult | undefined> => {
    let real = engine.db.realisationRecorded(key);
    const keeper = backend.realisationStore?.() ?? (dest !== engine.store ? dest : undefined);
    if (!real && keeper?.queryRealisation) {
      // The store of the backend that would build it keeps a copy another engine put there
      // (`store copy` carries realisations): brought where that backend's outputs go (a reapi
      // backend's come here from its CAS), recorded, then used instead of a build.
      real = await keeper.queryRealisation(key, { signal }).catch(() => undefined);
      if (real && keeper !== dest) {
        const got = real;
        real = await copyClosure(keeper, dest, Object.values(got), { signal }).then(
          () => got,
          () => undefined,
        );
      }
      if (real) engine.db.linkOutputs(h, real, key);
    }
    if (!real) return undefined;
    // Held before looked at: a gc running now may take them, and then they are built again.
    await req.hold?.(Object.values(real)).catch(() => {});
    if (!drv.outputs.every((o) => real[o] && stores.holding(real[o]) !== undefined)) return undefined;
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
    // In the local store the closure is computed only if the backend asks for it: the local
    // backend's reused store view needs only what it lacks (store-view.ts), not a set of the
    // whole closure per build.
    let inputClosureSet: Set<string> | undefined;
    let inputClosureList: string[] | undefined;
    const closureSet = () => (inputClosureSet ??= engine.store.closureSync(inputNames.filter((n) => engine.store.has(n))));
    try {
      await stores.bring(dest, inputNames, signal);
      if (dest !== engine.store) inputClosureSet = await dest.closure(inputNames, { signal });
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
      const outcome = await buildWithRemoteCache(
        stores.backends,
        backend,
        {
          buildId: id,
          drvHash: h,
          drv,
          get inputClosure() {
            return (inputClosureList ??= [...closureSet()]);
          },
          get inputClosureSet() {
            return closureSet();
          },
          inputs: inputNames,
          resolve: (r) => name(r.hash, r.output),
          projectRoot: req.projectRoot,
          // A project's host paths reach a build only through its derivation's hostPaths.
          sandboxPaths: [],
          keepFailed: !!req.keepFailed,
          timeoutMs: req.timeoutMs,
          signal,
          log: onLine,
          register: (infos: Map<string, PathInfo>) => {
            // Rooted while the path locks are still held, so a gc sees it (temp-roots.ts).
            void req.hold?.([...infos.values()].map((i) => i.name)).catch(() => {});
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
        },
        req.remoteCache,
      );
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
