// The scheduler: walks the derivation graph, skips what is built, runs the rest in
// parallel on their planned backends, and emits one typed event stream.
import { cpus } from "node:os";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BuildEvent } from "../api/schema.js";
import {
  canonicalJSON,
  derivationInputs,
  isFixedOutput,
  shortHash,
  substituteTemplates,
  type Derivation,
} from "../derivation/derivation.js";
import { BuildFailure, type Backend } from "../builders/backend.js";
import { lock } from "../store/lock.js";
import type { PathInfo } from "../store/store.js";
import type { Engine } from "./engine.js";
import { BuildLog, logFileFor } from "../store/logs.js";
import { planGraph } from "./plan.js";

export interface BuildRequest {
  runId: string;
  drvs: Map<string, Derivation>;
  roots: string[];
  projectRoot: string;
  sandboxPaths: string[];
  jobs?: number;
  keepGoing?: boolean;
  keepFailed?: boolean;
  /** build just these (and what they need) instead of the roots */
  only?: string[];
  builder?: string;
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
  const outputs = new Map<string, Record<string, string>>(); // store names
  const failed: string[] = [];
  const toPaths = (names: Record<string, string>) => Object.fromEntries(Object.entries(names).map(([o, n]) => [o, engine.store.path(n)]));

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
  const plan = planGraph(engine, new Map([...needed].map((h) => [h, drvs.get(h)!])), { builder: req.builder });

  emit({
    type: "run-started",
    runId,
    total: needed.size + cachedNodes.length,
    nodes: [...cachedNodes, ...needed].map((h) => ({ hash: h, name: drvs.get(h)!.name, backend: plan.get(h)?.backend ?? "cached" })),
  });
  for (const h of cachedNodes) {
    outputs.set(h, built.get(h)!);
    emit({ type: "cached", runId, hash: h, outputs: toPaths(built.get(h)!) });
  }
  const finish = (status: BuildResult["status"], nBuilt: number, nCached: number): BuildResult => {
    emit({ type: "run-finished", runId, status, built: nBuilt, cached: nCached, failed: failed.length });
    return { status, outputs: new Map([...outputs].map(([h, n]) => [h, toPaths(n)])), failed };
  };

  // Planning errors and unknown dependencies stop the run before anything builds.
  const planErrors = [...needed].filter((h) => plan.get(h)!.error);
  if (unknown.length || planErrors.length) {
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
  let nCached = cachedNodes.length;
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
        buildOne(engine, req, h, drvs.get(h)!, plan.get(h)!.backend!, outputs, stopper.signal, emit).then(
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
  req: BuildRequest,
  h: string,
  drv: Derivation,
  backendName: string,
  outputs: Map<string, Record<string, string>>,
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
  let key: string;
  let inputClosure: string[];
  try {
    key = resolvedKey(drv, name);
    inputClosure = [...engine.store.closure(derivationInputs(drv).map((r) => name(r.hash, r.output)))];
  } catch (e) {
    return fail((e as Error).message);
  }
  const cutoff = () => {
    const real = engine.db.realisation(key);
    if (!real || !drv.outputs.every((o) => real[o])) return false;
    engine.db.linkOutputs(h, real);
    outputs.set(h, real);
    emit({ type: "cached", runId, hash: h, outputs: Object.fromEntries(Object.entries(real).map(([o, n]) => [o, engine.store.path(n)])) });
    return true;
  };
  if (cutoff()) return { status: "cached" };

  let release: () => void;
  try {
    release = await lock(join(engine.layout.lockDir, `drv-${key}.lock`), signal);
  } catch {
    emit({ type: "cancelled", runId, hash: h, buildId: null });
    return { status: "cancelled" };
  }
  let log: BuildLog | undefined;
  let buildId: number | null = null;
  try {
    if (cutoff()) return { status: "cached" }; // another process built it while we waited
    const backend: Backend | undefined = engine.backends.find((b) => b.name === backendName) ?? (backendName === drv.builder ? engine.builtin : undefined);
    if (!backend) return fail(`backend ${backendName} is not available`);
    const sub = (s: string) => substituteTemplates(s, (r) => engine.store.path(name(r.hash, r.output)));
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
    buildId = record.id;
    const id = record.id;
    log = new BuildLog(record.logFile);
    const buildLog = log;
    emit({ type: "started", runId, hash: h, buildId: id, backend: backendName });
    const onLine = (line: string) => {
      if (buildLog.write(line)) emit({ type: "log", runId, hash: h, buildId: id, line });
    };
    try {
      const outcome = await backend.build({
        buildId: id,
        drvHash: h,
        drv,
        inputClosure,
        resolve: (r) => name(r.hash, r.output),
        projectRoot: req.projectRoot,
        sandboxPaths: req.sandboxPaths,
        keepFailed: !!req.keepFailed,
        timeoutMs: req.timeoutMs,
        signal,
        log: onLine,
        register: (infos: Map<string, PathInfo>) => {
          engine.store.writeDrv(h, drv);
          engine.db.putDerivations(new Map([[h, drv]]));
          engine.db.registerOutputs({
            drvHash: h,
            resolved: key,
            outputs: [...infos].map(([output, info]) => ({ output, info })),
            buildId: id,
          });
        },
      });
      const names = Object.fromEntries([...outcome.outputs].map(([o, i]) => [o, i.name]));
      outputs.set(h, names);
      if (isFixedOutput(drv)) {
        const first = outcome.outputs.get(drv.outputs[0] ?? "out");
        if (first) req.onFixedOutput?.(h, drv, first.hash);
      }
      emit({ type: "built", runId, hash: h, buildId: id, outputs: Object.fromEntries(Object.entries(names).map(([o, n]) => [o, engine.store.path(n)])) });
      return { status: "built" };
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
