// The service: one implementation of the API in schema.ts, owned by the CLI's `serve`,
// Electron main, or a test. Transports (IPC, WebSocket) call `dispatch`, which validates
// every request before any of this runs.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, watch, writeFileSync, type FSWatcher } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { homedir } from "node:os";
import { isBuiltin, isImpure, derivationInputs, type Derivation } from "../derivation/derivation.js";
import { backendInfos, openEngine, nodeOutputs, type Engine } from "../build/engine.js";
import { planGraph } from "../build/plan.js";
import { runBuild } from "../build/scheduler.js";
import { runCommand, sandboxCommand, type SandboxCommand } from "../builders/shell.js";
import { consentedSandboxPaths } from "../builders/host-access.js";
import { emulationStatus } from "../builders/qemu.js";
import { readLog } from "../store/logs.js";
import { listFunctions } from "../starlark/index.js";
import { DEFAULT_EVAL_LIMITS, type Evaluation } from "../project/evaluate.js";
import { readRegularFile } from "../project/read-file.js";
import { recordLockEntries } from "../project/lock.js";
import { fetchDependencies } from "../project/dependencies.js";
import { fetchPinning } from "../build/store-add.js";
import { bramblesBelow } from "../project/module-args.js";
import { findProjectRoot, loadProject, type Project } from "../project/project.js";
import { checkSystem, hostSystem } from "../derivation/systems.js";
import {
  parseParams,
  type BuildEvent,
  type Graph,
  type GraphDiff,
  type GraphNode,
  type Method,
  type ModuleInfo,
  type Params,
  type ProjectInfo,
  type Results,
  type RunSummary,
  type RunRecord,
  type Service,
} from "./schema.js";
import { killPoint } from "../store/kill-points.js";
import { pidAlive } from "../store/lock.js";
import { remoteFactsOfLog } from "../builders/reapi/log-facts.js";
import { ServiceError } from "./errors.js";
import { configuredEvalLimits } from "../project/eval-limits.js";
import { inlineEvaluator, type Evaluator } from "./evaluator.js";

export { evalErrorInfo, ServiceError, toApiError } from "./errors.js";
import { evalErrorInfo, toApiError } from "./errors.js";

import { VERSION } from "../version.js";

export interface ServiceOptions {
  /** $BRAMBLE_PATH; default from the environment */
  home?: string;
  defaultProject?: string;
  defaultModuleArg?: string;
  /** where evaluations run: this thread (the default) or a pool of worker threads */
  evaluator?: Evaluator;
  /** watch the .bramble files and bramble.toml of each project opened or evaluated, and emit sources-changed (bramble serve, the app) */
  watch?: boolean;
  /** an evaluation's step and time budget (default DEFAULT_EVAL_LIMITS, or the user's config) */
  evalLimits?: { maxSteps?: number; timeoutMs?: number };
}

export interface ServiceHost {
  service: Service;
  engine: Engine;
  onEvent(listener: (e: BuildEvent) => void): () => void;
  close(): void;
}

export function moduleInfos(project: Project): ModuleInfo[] {
  return bramblesBelow(project.root).map((file) => {
    const rel = relative(project.root, file);
    const module = rel === "default.bramble" ? "." : `./${rel.replace(/\/default\.bramble$/, "").replace(/\.bramble$/, "")}`;
    let functions: ModuleInfo["functions"] = [];
    let error: ModuleInfo["error"];
    try {
      functions = listFunctions(file, readRegularFile(file, "module"))
        .filter((f) => !f.name.startsWith("_"))
        .map(({ name, params, doc }) => ({ name, params, doc }));
    } catch (e) {
      // A module that does not parse lists no functions, and says why (file, line, column).
      error = evalErrorInfo(e) ?? { message: e instanceof Error ? e.message : String(e), file };
    }
    return { module, file, functions, ...(error ? { error } : {}) };
  });
}

/** The function to show first: `default` of the root module, else any `default`, else the first without parameters. */
export function firstModuleArg(modules: ModuleInfo[]): string | null {
  const callable = modules.flatMap((m) => m.functions.filter((f) => f.params.length === 0).map((f) => ({ m, f })));
  const pick = callable.find(({ m, f }) => m.module === "." && f.name === "default") ?? callable.find(({ f }) => f.name === "default") ?? callable[0];
  return pick ? `${pick.m.module}:${pick.f.name}` : null;
}

/** The `bramble shell` command a user can paste: it names this service's store when that is not the default one. */
export function shellCommandFor(home: string, hash: string): string {
  const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const fallback = resolve(join(homedir(), "bramble"));
  return resolve(home) === fallback ? `bramble shell ${hash}` : `BRAMBLE_PATH=${quote(resolve(home))} bramble shell ${hash}`;
}

/** hashes and everything they depend on, in this evaluation */
function closureOf(ev: Evaluation, hashes: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...hashes];
  while (todo.length) {
    const h = todo.pop()!;
    if (seen.has(h)) continue;
    seen.add(h);
    const d = ev.drvs.get(h);
    if (d) for (const r of derivationInputs(d)) todo.push(r.hash);
  }
  return seen;
}

/** The hash in this evaluation of the derivation `hash` names: itself, or the one derivation of its name (an edit changed it). */
function currentHashOf(ev: Evaluation, hash: string, db?: { getDerivation(h: string): Derivation | undefined | null }): string {
  if (ev.drvs.has(hash)) return hash;
  const name = db?.getDerivation(hash)?.name;
  if (!name) return hash;
  const same = [...ev.drvs].filter(([, d]) => d.name === name);
  return same.length === 1 ? same[0]![0] : hash;
}

export function createService(opts: ServiceOptions = {}): ServiceHost {
  const engine = openEngine(opts.home);
  const evaluator = opts.evaluator ?? inlineEvaluator();
  const limits = { ...DEFAULT_EVAL_LIMITS, ...configuredEvalLimits(), ...definedOnly(opts.evalLimits ?? {}) };
  /** running evaluations a client named (evalId), so it can cancel them */
  const evaluating = new Map<string, AbortController>();
  const listeners = new Set<(e: BuildEvent) => void>();
  const runs = new Map<string, AbortController>();
  /** the runs this service started, newest last: what a reloaded page reattaches to */
  const runSummaries = new Map<string, RunSummary>();
  /** the latest evaluation of each (project, module argument, target), newest last, bounded */
  const evaluations = new Map<string, Evaluation>();
  /** sandboxes prepared for a client to spawn (shell.open, run.open), until sandbox.close */
  const sandboxes = new Map<string, SandboxCommand>();
  const openSandbox = (cmd: SandboxCommand) => {
    const sandbox = randomBytes(8).toString("hex");
    sandboxes.set(sandbox, cmd);
    return { argv: cmd.argv, dir: cmd.dir, sandbox };
  };
  const EVALUATIONS_KEPT = 32;
  /** The newest evaluation that holds this derivation, for dependents and node details. */
  const evaluationWith = (hash: string): Evaluation | undefined => [...evaluations.values()].reverse().find((e) => e.drvs.has(hash));
  const states = new Map<string, GraphNode["state"]>();
  const recentFile = join(engine.home, "var", "recent-projects.json");

  const emit = (e: BuildEvent) => {
    trackState(e);
    for (const l of listeners) l(e);
  };

  function trackState(e: BuildEvent): void {
    const summary = e.runId ? runSummaries.get(e.runId) : undefined;
    if (summary && e.type === "run-finished") {
      Object.assign(summary, { status: e.status, endedAt: Date.now() });
      engine.db.finishRun(e.runId, e.status);
    } else if (summary && "hash" in e && e.type !== "log" && e.type !== "planned") summary.states[e.hash] = e.type === "started" ? "building" : e.type;
    if (e.type === "planned") states.set(e.hash, "queued");
    else if (e.type === "started") states.set(e.hash, "building");
    else if (e.type === "built") states.set(e.hash, "built");
    else if (e.type === "cached") states.set(e.hash, "cached");
    else if (e.type === "failed") states.set(e.hash, "failed");
    else if (e.type === "cancelled") states.set(e.hash, "cancelled");
    else if (e.type === "skipped") states.set(e.hash, "skipped");
  }

  // Runs whose process died while they ran (this server, killed; a CLI build) were interrupted:
  // their builds died with them (issue 14 point 5). Recorded so, not left "running".
  engine.db.interruptOrphanedRuns(pidAlive);

  /** A run another live process is doing now (a `bramble build` in a terminal): its builds are building, not dead. */
  function runningElsewhere(runId: string): boolean {
    const r = engine.db.getRun(runId);
    return !!r && r.status === "running" && r.pid !== process.pid && pidAlive(r.pid);
  }

  /** A run as a page sees it, from the database: how it ended and each node's last state in it. */
  function summaryOf(r: RunRecord): RunSummary {
    const states: RunSummary["states"] = {};
    for (const b of engine.db.buildsOfRun(r.runId)) states[b.drvHash] = b.status === "running" ? "building" : b.status;
    return {
      runId: r.runId,
      project: r.project,
      moduleArg: r.moduleArg,
      target: r.target,
      status: r.status,
      startedAt: r.startedAt,
      ...(r.endedAt !== null ? { endedAt: r.endedAt } : {}),
      states,
      ...(r.pid !== process.pid ? { external: true } : {}),
    };
  }

  function rememberProject(root: string): void {
    const list = [root, ...recentProjects().filter((p) => p !== root)].slice(0, 10);
    mkdirSync(join(engine.home, "var"), { recursive: true });
    const tmp = `${recentFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(list));
    renameSync(tmp, recentFile);
  }

  function recentProjects(): string[] {
    try {
      const list = JSON.parse(readFileSync(recentFile, "utf8"));
      return Array.isArray(list) ? list.filter((p): p is string => typeof p === "string" && existsSync(p)) : [];
    } catch {
      return [];
    }
  }

  /** fs.watch of each watched project's root (recursive), by root */
  const watchers = new Map<string, FSWatcher>();
  /** Watch a project's build files: edits are debounced (an editor's save is several events) into one sources-changed event. */
  function watchProject(root: string): void {
    if (!opts.watch || watchers.has(root)) return;
    const changed = new Set<string>();
    let timer: NodeJS.Timeout | undefined;
    try {
      const w = watch(root, { recursive: true }, (_type, name) => {
        const rel = name ? String(name) : "";
        if (!rel.endsWith(".bramble") && basename(rel) !== "bramble.toml") return;
        changed.add(join(root, rel));
        clearTimeout(timer);
        timer = setTimeout(() => {
          const files = [...changed].sort();
          changed.clear();
          emit({ type: "sources-changed", project: root, files });
          void reevaluate(root, files);
        }, 200);
      });
      w.on("error", () => {
        w.close();
        watchers.delete(root);
      });
      w.unref();
      watchers.set(root, w);
    } catch {
      // A project that cannot be watched is still evaluated whenever asked.
    }
  }

  /**
   * The graphs clients were shown (graph.evaluate, graph.diff), newest last: what an edit of
   * their project re-evaluates. `hashes`: the nodes of the one shown last, to mark what changed.
   */
  const shown = new Map<string, { project: string; moduleArg: string; target?: string; diff: boolean; hashes: Set<string> }>();
  const SHOWN_KEPT = 16;
  function rememberShown(p: { project: string; moduleArg: string; target?: string }, diff: boolean, graph: Graph): void {
    const key = `${graph.project}\0${p.moduleArg}\0${p.target ?? ""}\0${diff}`;
    shown.delete(key);
    shown.set(key, { project: graph.project, moduleArg: p.moduleArg, target: p.target, diff, hashes: new Set(graph.nodes.map((n) => n.hash)) });
    if (shown.size > SHOWN_KEPT) shown.delete(shown.keys().next().value!);
  }
  /** per project, the background re-evaluation running now; a newer edit stops it */
  const reevaluating = new Map<string, AbortController>();

  /**
   * Issue 14 point 1: an edit is re-evaluated here, not by the pages. Every graph of the project
   * a client was shown is evaluated again (one at a time, in the background: the evaluator's
   * workers under `bramble serve`), and each result goes to every client with what changed.
   */
  async function reevaluate(root: string, files: string[]): Promise<void> {
    reevaluating.get(root)?.abort();
    const controller = new AbortController();
    reevaluating.set(root, controller);
    try {
      let modules: ModuleInfo[] = [];
      try {
        modules = moduleInfos(loadProject(root));
      } catch {
        /* bramble.toml is broken: the evaluations below say how */
      }
      const mine = [...shown.values()].filter((s) => s.project === root);
      if (!mine.length) {
        emit({ type: "graph-updated", project: root, files, modules });
        return;
      }
      for (const s of mine.reverse()) {
        if (controller.signal.aborted) return;
        const asked = { project: root, moduleArg: s.moduleArg, ...(s.target ? { target: s.target } : {}) };
        try {
          const diff = s.diff ? await diffOf({ ...asked, signal: controller.signal }) : undefined;
          const graph = diff ? diff.to : toGraph(await runEvaluation({ ...asked, signal: controller.signal }), s.moduleArg);
          if (controller.signal.aborted) return;
          const changed = graph.nodes.filter((n) => !s.hashes.has(n.hash)).map((n) => n.hash);
          s.hashes = new Set(graph.nodes.map((n) => n.hash));
          emit({ type: "graph-updated", ...asked, files, modules, graph, ...(diff ? { diff } : {}), changed });
        } catch (e) {
          if (controller.signal.aborted) return;
          emit({ type: "graph-updated", ...asked, files, modules, error: toApiError(e) });
        }
      }
    } finally {
      if (reevaluating.get(root) === controller) reevaluating.delete(root);
    }
  }

  async function diffOf(p: { project: string; moduleArg: string; target?: string; evalId?: string; signal?: AbortSignal }): Promise<GraphDiff> {
    const from = toGraph(await runEvaluation({ project: p.project, moduleArg: p.moduleArg, evalId: p.evalId, signal: p.signal }), p.moduleArg);
    const to = toGraph(await runEvaluation(p), p.moduleArg);
    const before = new Set(from.nodes.map((n) => n.hash));
    const changed = to.nodes.filter((n) => !before.has(n.hash)).map((n) => n.hash);
    const unchanged = to.nodes.filter((n) => before.has(n.hash)).map((n) => n.hash);
    const rebuild = to.nodes
      .filter((n) => n.state === "not-built")
      .map((n) => ({ hash: n.hash, name: n.name, backend: n.backend, ...(n.planError ? { reason: n.planError } : {}) }));
    return { from, to, changed, unchanged, rebuild };
  }

  function openProject(path: string): Project {
    const project = loadProject(resolve(path));
    watchProject(project.root);
    return project;
  }

  async function runEvaluation(p: { project: string; moduleArg: string; target?: string; evalId?: string; signal?: AbortSignal }): Promise<Evaluation> {
    const badTarget = p.target === undefined ? undefined : checkSystem(p.target);
    if (badTarget) throw new ServiceError({ message: `target: ${badTarget}`, field: "target" });
    const project = openProject(p.project);
    killPoint("evaluate");
    const controller = new AbortController();
    if (p.evalId !== undefined) {
      if (evaluating.has(p.evalId)) throw new ServiceError({ message: `an evaluation ${p.evalId} is already running`, field: "evalId" });
      evaluating.set(p.evalId, controller);
    }
    if (p.signal?.aborted) controller.abort();
    p.signal?.addEventListener("abort", () => controller.abort(), { once: true });
    let ev: Evaluation;
    try {
      // Dependencies by version are fetched first (in the fetch sandbox, pinned in bramble.lock), then evaluated from the store.
      // A cancelled evaluation, or one a newer save replaced, stops its fetches too.
      const packages = await fetchDependencies(project, (drv) => fetchPinning(engine, drv, project.root, controller.signal), controller.signal);
      ev = await evaluator.evaluate({ project: project.root, moduleArg: p.moduleArg, target: p.target, limits, packages }, controller.signal);
    } finally {
      if (p.evalId !== undefined) evaluating.delete(p.evalId);
    }
    const key = `${project.root}\0${p.moduleArg}\0${ev.target}`;
    evaluations.delete(key);
    evaluations.set(key, ev);
    if (evaluations.size > EVALUATIONS_KEPT) evaluations.delete(evaluations.keys().next().value!);
    return ev;
  }

  function recordEvaluation(ev: Evaluation, moduleArg: string): number {
    return engine.db.recordEvaluation({ project: ev.project.root, moduleArg, target: ev.target, roots: ev.roots, drvs: ev.drvs });
  }

  function toGraph(ev: Evaluation, moduleArg: string, builder?: string): Graph {
    // The project's [backends.*] tables take effect for its plans and builds only.
    const backends = engine.backendsFor(ev.project.backends);
    const plan = planGraph(backends, ev.drvs, { builder });
    const evaluationId = recordEvaluation(ev, moduleArg);
    const nodes: GraphNode[] = [];
    const edges: Graph["edges"] = [];
    for (const [hash, drv] of ev.drvs) {
      nodes.push(graphNode(hash, drv, plan.get(hash), ev.locations.get(hash), backends));
      for (const ref of derivationInputs(drv)) edges.push({ from: ref.hash, to: hash });
    }
    return { evaluationId, project: ev.project.root, moduleArg, target: ev.target, host: ev.host, roots: ev.roots, nodes, edges };
  }

  function graphNode(
    hash: string,
    drv: Derivation,
    planned?: { backend: string | null; error?: string },
    location?: string,
    backends = engine.backends,
  ): GraphNode {
    const outputPaths = nodeOutputs(engine, hash, backends) ?? {};
    const built = Object.keys(outputPaths).length > 0;
    const live = states.get(hash);
    // With no live state (a restarted service, a new page), the last build in the history says how it ended.
    const last = live || built ? undefined : engine.db.listBuilds({ drvHash: hash, limit: 1 })[0];
    const past: GraphNode["state"] | undefined =
      last?.status === "failed"
        ? "failed"
        : last?.status === "cancelled"
          ? "cancelled"
          : last?.status === "skipped"
            ? "skipped"
            : last?.status === "running"
              ? runs.size || runningElsewhere(last.runId)
                ? "building"
                : "cancelled"
              : undefined;
    const state: GraphNode["state"] = live && !(live === "built" || live === "cached") ? live : built ? (live ?? "cached") : (past ?? "not-built");
    const backend = planned?.backend ?? null;
    return {
      hash,
      name: drv.name,
      builder: drv.builder,
      badge: isBuiltin(drv) ? drv.builder : (backend ?? "none"),
      backend,
      ...(backend && !isBuiltin(drv) ? { backendKind: backends.find((b) => b.name === backend)?.kind } : {}),
      ...(planned?.error ? { planError: planned.error } : {}),
      platform: drv.platform,
      system: drv.system,
      outputs: drv.outputs,
      args: drv.args,
      env: drv.env,
      outputPaths,
      state,
      location,
      ...(isImpure(drv) ? { hostPaths: Object.keys(drv.hostPaths!) } : {}),
    };
  }

  /**
   * nix-tree's sizes: the closure of a node's outputs (every store path they refer to, transitively)
   * and what it adds: the part of that closure its dependencies' outputs do not already bring.
   */
  function closureSizes(hash: string, deps: string[]): { closure?: { size: number; paths: number; added: number } } {
    const names = engine.db.outputsOf(hash).map((o) => basename(o.path));
    if (!names.length) return {};
    const closure = engine.store.closureSync(names);
    const depNames = deps.flatMap((h) => engine.db.outputsOf(h).map((o) => basename(o.path)));
    const before = depNames.length ? engine.store.closureSync(depNames) : new Set<string>();
    let size = 0;
    let added = 0;
    for (const n of closure) {
      const s = engine.db.pathInfo(n)?.size ?? 0;
      size += s;
      if (!before.has(n)) added += s;
    }
    return { closure: { size, paths: closure.size, added } };
  }

  const service: Service = {
    async "app.info"() {
      return {
        version: VERSION,
        host: hostSystem(),
        defaultProject: opts.defaultProject ?? null,
        defaultModuleArg: opts.defaultModuleArg ?? null,
      };
    },

    async "project.open"({ path }): Promise<ProjectInfo> {
      const project = openProject(path);
      rememberProject(project.root);
      return { root: project.root, name: project.name, version: project.version, modules: moduleInfos(project) };
    },

    async "project.recent"() {
      return recentProjects();
    },

    async "graph.evaluate"(p) {
      const graph = toGraph(await runEvaluation(p), p.moduleArg);
      rememberShown(p, false, graph);
      return graph;
    },

    async "graph.diff"(p) {
      const diff = await diffOf(p);
      rememberShown(p, true, diff.to);
      return diff;
    },

    async "build.start"(p) {
      const ev = await runEvaluation(p);
      recordEvaluation(ev, p.moduleArg);
      const backends = engine.backendsFor(ev.project.backends);
      const plan = planGraph(backends, ev.drvs, { builder: p.builder });
      // Only what is asked for (and what it needs) must have a backend: Build selected builds whatever other nodes lack.
      const needed =
        p.only && !p.tests
          ? closureOf(
              ev,
              p.only.map((h) => currentHashOf(ev, h, engine.db)),
            )
          : null;
      const unbuildable = [...plan.entries()].filter(([h, e]) => e.error && (!needed || needed.has(h))).map(([, e]) => e);
      if (unbuildable.length > 0) throw new ServiceError({ message: unbuildable.map((e) => e.error).join("\n") });
      const impure = p.pure ? [...ev.drvs.values()].filter(isImpure) : [];
      if (impure.length > 0) {
        const paths = [...new Set(impure.flatMap((d) => Object.keys(d.hostPaths!)))].join(", ");
        throw new ServiceError({
          message: `--pure refuses impure derivations: ${impure.map((d) => d.name).join(", ")} (they see the host paths ${paths}, the project's sandbox_paths)`,
        });
      }
      // `bramble test`: the tests' derivations instead of the roots, from this one evaluation.
      const tests = p.tests
        ? ev.tests.map((t) => ({ derivation: t.derivation, name: ev.drvs.get(t.derivation)?.name ?? t.derivation, args: t.args, location: t.location }))
        : undefined;
      if (tests && tests.length === 0) return { runId: "", roots: [], total: 0, tests };
      // A hash from before an edit (a client's "rebuild this node") means the node of that name now.
      const only = tests ? [...new Set(tests.map((t) => t.derivation))] : p.only?.map((h) => currentHashOf(ev, h, engine.db));
      const runId = randomBytes(8).toString("hex");
      const controller = new AbortController();
      runs.set(runId, controller);
      runSummaries.set(runId, {
        runId,
        project: ev.project.root,
        moduleArg: p.moduleArg,
        target: ev.target,
        status: "running",
        startedAt: Date.now(),
        states: {},
      });
      if (runSummaries.size > 50) runSummaries.delete(runSummaries.keys().next().value!);
      engine.db.startRun({ runId, project: ev.project.root, moduleArg: p.moduleArg, target: ev.target });
      const project = ev.project;
      void runBuild(
        engine,
        {
          runId,
          drvs: ev.drvs,
          roots: ev.roots,
          projectRoot: project.root,
          jobs: p.jobs,
          pure: p.pure,
          keepGoing: p.keepGoing,
          keepFailed: p.keepFailed,
          keepRemote: p.keepRemote,
          backends,
          remoteCache: p.remoteCache,
          only,
          builder: p.builder,
          timeoutMs: (p.timeout ?? project.timeout) ? (p.timeout ?? project.timeout)! * 1000 : undefined,
          signal: controller.signal,
        },
        emit,
      )
        .then(() => recordFetchedHashes(engine, ev))
        .catch((err) => {
          emit({ type: "run-finished", runId, status: "failed", built: 0, cached: 0, failed: 1 });
          console.error(`build ${runId}: ${(err as Error).message}`);
        })
        .finally(() => runs.delete(runId));
      const roots = ev.roots.map((hash) => ({ hash, name: ev.drvs.get(hash)!.name, system: ev.drvs.get(hash)!.system }));
      const returnedRuns = ev.returnedRuns ?? [];
      return { runId, roots, total: ev.drvs.size, ...(tests ? { tests } : {}), ...(returnedRuns.length ? { runs: returnedRuns } : {}) };
    },

    async "sandbox.exec"(p) {
      const project = openProject(p.project);
      const cmd = await runCommand(engine, {
        paths: p.paths,
        command: p.command,
        readOnlyPaths: consentedSandboxPaths(project.root, project.sandboxPaths),
        env: p.env,
      });
      try {
        return await execSandbox(cmd.argv, (p.timeout ?? project.timeout ?? 600) * 1000);
      } finally {
        cmd.cleanup();
      }
    },

    async "shell.open"(p) {
      let hash = p.hash;
      let drvs: Map<string, Derivation> | undefined;
      let projectDir = p.project;
      if (!hash && p.moduleArg !== undefined) {
        if (p.project === undefined) throw new ServiceError({ message: "a module argument needs its project", field: "project" });
        const ev = await runEvaluation({ project: p.project, moduleArg: p.moduleArg, target: p.target });
        if (ev.roots.length === 0) throw new ServiceError({ message: `${p.moduleArg} gives no derivations`, field: "moduleArg" });
        hash = ev.roots[0]!;
        drvs = ev.drvs;
        projectDir = ev.project.root;
      }
      if (!hash) {
        const failed = engine.db.listBuilds({ limit: 200 }).find((b) => b.status === "failed");
        if (!failed) throw new ServiceError({ message: "no failed build to open: give a derivation hash or a module argument", field: "hash" });
        hash = failed.drvHash;
      }
      let projectRoot = projectDir ?? process.cwd();
      try {
        projectRoot = loadProject(engine.db.projectOf(hash) ?? projectRoot).root;
      } catch {
        /* a derivation of a project that is gone: its sources are in the store or nowhere */
      }
      // The derivation's own hostPaths (consented at evaluation) are its only host paths.
      const cmd = await sandboxCommand(engine, hash, { projectRoot, sandboxPaths: [], drvs: drvs ?? evaluationWith(hash)?.drvs });
      return { hash, ...openSandbox(cmd) };
    },

    async "run.open"(p) {
      const project = openProject(p.project);
      const bins = p.paths.map((x) => `${x}/bin`).join(":");
      const emulated = emulatedCommand(p.system, p.command, p.paths);
      const cmd = await runCommand(engine, {
        paths: p.paths,
        command: emulated.command,
        readOnlyPaths: [...consentedSandboxPaths(project.root, project.sandboxPaths), ...(p.readOnlyPaths ?? []), ...emulated.readOnly],
        writablePaths: p.writablePaths ?? [],
        network: p.network,
        env: { PATH: `${bins}:/usr/bin:/bin` },
        cwd: p.cwd,
        hiddenPaths: p.hiddenPaths,
      });
      return openSandbox(cmd);
    },

    async "sandbox.close"({ sandbox }) {
      const cmd = sandboxes.get(sandbox);
      sandboxes.delete(sandbox);
      cmd?.cleanup();
      return { closed: cmd !== undefined };
    },

    async "build.runs"() {
      const here = [...runSummaries.values()].reverse().map((r) => ({ ...r, states: { ...r.states } }));
      // After a restart: the runs of earlier services, from the database (interrupted ones included).
      const known = new Set(here.map((r) => r.runId));
      const earlier = engine.db
        .listRuns(20)
        .filter((r) => !known.has(r.runId))
        .map(summaryOf);
      return [...here, ...earlier];
    },

    async "build.run"({ runId }) {
      const here = runSummaries.get(runId);
      if (here) return { ...here, states: { ...here.states } };
      const r = engine.db.getRun(runId);
      return r ? summaryOf(r) : null;
    },

    async "graph.derivation"({ hash }) {
      // An old derivation (the history's) and everything it needs, as recorded in the database.
      const drvs = new Map<string, Derivation>();
      const todo = [hash];
      while (todo.length) {
        const h = todo.pop()!;
        if (drvs.has(h)) continue;
        const d = evaluationWith(h)?.drvs.get(h) ?? engine.db.getDerivation(h);
        if (!d) {
          if (h === hash) throw new ServiceError({ message: `no derivation ${hash} is known`, field: "hash" });
          continue;
        }
        drvs.set(h, d);
        for (const r of derivationInputs(d)) todo.push(r.hash);
      }
      const project = engine.db.projectOf(hash) ?? "";
      const plan = planGraph(engine.backends, drvs, {});
      const nodes = [...drvs].map(([h, d]) => graphNode(h, d, plan.get(h), undefined, engine.backends));
      const edges = [...drvs].flatMap(([h, d]) =>
        [...new Set(derivationInputs(d).map((r) => r.hash))].filter((x) => drvs.has(x)).map((from) => ({ from, to: h })),
      );
      return { evaluationId: 0, project, moduleArg: "", target: drvs.get(hash)!.system, host: hostSystem(), roots: [hash], nodes, edges };
    },

    async "build.cancel"({ runId }) {
      const controller = runs.get(runId);
      controller?.abort();
      return { cancelled: controller !== undefined };
    },

    async "evaluation.cancel"({ evalId }) {
      const controller = evaluating.get(evalId);
      controller?.abort();
      return { cancelled: controller !== undefined };
    },

    async "derivation.get"({ hash }) {
      const ev = evaluationWith(hash);
      const drv = ev?.drvs.get(hash) ?? engine.db.getDerivation(hash);
      if (!drv) throw new ServiceError({ message: `no derivation ${hash} is known`, field: "hash" });
      const backends = ev ? engine.backendsFor(ev.project.backends) : engine.backends;
      const node = graphNode(hash, drv, ev ? planGraph(backends, new Map([[hash, drv]]), {}).get(hash) : undefined, ev?.locations.get(hash), backends);
      const nameOf = (h: string) => ev?.drvs.get(h)?.name ?? engine.db.getDerivation(h)?.name ?? h;
      const dependencies = [...new Set(derivationInputs(drv).map((r) => r.hash))].map((h) => ({ hash: h, name: nameOf(h) }));
      const dependents = ev
        ? [...ev.drvs].filter(([, d]) => derivationInputs(d).some((r) => r.hash === hash)).map(([h, d]) => ({ hash: h, name: d.name }))
        : [];
      const builds = engine.db.listBuilds({ drvHash: hash, limit: 50 });
      const remote = remoteFactsOfLog(builds[0]?.logFile);
      return {
        node,
        derivation: drv,
        outputs: engine.db.outputsOf(hash),
        dependencies,
        dependents,
        builds,
        ...(remote ? { remote } : {}),
        ...closureSizes(
          hash,
          dependencies.map((x) => x.hash),
        ),
        shellCommand: shellCommandFor(engine.home, hash),
      };
    },

    async "log.get"({ buildId, fromLine }) {
      const build = engine.db.getBuild(buildId);
      if (!build) throw new ServiceError({ message: `no build ${buildId}`, field: "buildId" });
      const lines = readLog(engine, buildId, fromLine ?? 0);
      return { lines, nextLine: (fromLine ?? 0) + lines.length, running: build.status === "running" };
    },

    async "history.list"({ limit, drvHash }) {
      return engine.db.listBuilds({ limit: limit ?? 200, drvHash });
    },

    async "backends.list"(p) {
      // The one place that waits for the network: each backend's probe (in parallel, bounded).
      return backendInfos(p.project ? engine.backendsFor(openProject(p.project).backends) : engine.backends);
    },

    async "source.get"({ path }) {
      // Only build files of projects this service has opened: never an arbitrary host file.
      const file = resolve(path);
      const name = basename(file);
      if (!file.endsWith(".bramble") && name !== "bramble.toml" && name !== "bramble.lock") {
        throw new ServiceError({ message: `only .bramble files, bramble.toml and bramble.lock can be shown, not ${file}`, field: "path" });
      }
      let root: string;
      try {
        root = findProjectRoot(dirname(file));
      } catch {
        throw new ServiceError({ message: `${file} is not in a project`, field: "path" });
      }
      const known = new Set([
        ...recentProjects(),
        ...(opts.defaultProject ? [opts.defaultProject] : []),
        ...[...evaluations.values()].map((e) => e.project.root),
      ]);
      if (!known.has(root)) throw new ServiceError({ message: `${file} is not in a project opened here`, field: "path" });
      let text: string;
      try {
        const real = realpathSync(file);
        if (relative(realpathSync(root), real).startsWith("..")) throw new Error("it leads outside its project");
        text = readRegularFile(real, "file");
      } catch (err) {
        throw new ServiceError({ message: `cannot read ${file}: ${(err as Error).message}`, field: "path" });
      }
      return { path: file, text };
    },
  };

  return {
    service,
    engine,
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      for (const w of watchers.values()) w.close();
      watchers.clear();
      for (const cmd of sandboxes.values()) cmd.cleanup();
      sandboxes.clear();
      // Builds die with the service: its runs still going were interrupted (recorded before the
      // abort, whose "cancelled" would otherwise say the user stopped them).
      for (const runId of runs.keys()) engine.db.finishRun(runId, "interrupted");
      for (const c of runs.values()) c.abort();
      for (const c of evaluating.values()) c.abort();
      for (const c of reevaluating.values()) c.abort();
      evaluator.close();
      engine.close();
    },
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Write the hashes of fetches that had none (first fetches) into bramble.lock. */
/**
 * How `bramble run` starts a program built for `system`: as it is on this machine's own system;
 * for another Linux architecture as the qemu backend runs its builders (qemu.ts): through
 * binfmt_misc (its interpreter made visible unless registered with the F flag), else under the
 * static emulator, which is given the program's path. A system nothing here runs is refused.
 */
function emulatedCommand(system: string | undefined, command: string[], paths: string[]): { command: string[]; readOnly: string[] } {
  if (system === undefined || system === "any" || system === hostSystem()) return { command, readOnly: [] };
  const st = emulationStatus(system);
  if (st.reason) throw new ServiceError({ message: `cannot run a program built for ${system} here: ${st.reason}`, field: "system" });
  if (st.binfmt) return { command, readOnly: st.binfmt.flags.includes("F") || !st.binfmt.interpreter ? [] : [st.binfmt.interpreter] };
  const [program, ...args] = command;
  const found = program!.includes("/") ? program! : paths.map((p) => join(p, "bin", program!)).find((f) => existsSync(f));
  if (!found) throw new ServiceError({ message: `no program ${program} in ${paths.map((p) => join(p, "bin")).join(", ")}`, field: "command" });
  return { command: [st.staticQemu!, found, ...args], readOnly: [st.staticQemu!] };
}

export async function recordFetchedHashes(engine: Engine, ev: Evaluation): Promise<void> {
  const entries = new Map<string, string>();
  for (const [drvHash, key] of ev.fetchKeys) {
    if (ev.drvs.get(drvHash)?.outputHash !== undefined) continue;
    const got = engine.db.outputsOf(drvHash)[0]?.hash;
    if (got) entries.set(key, got);
  }
  await recordLockEntries(ev.project.root, entries);
}

/** Validate and run one request: the single entry point for IPC and WebSocket. */
export async function dispatch(service: Service, method: string, params: unknown): Promise<unknown> {
  if (!Object.hasOwn(service, method)) {
    throw new ServiceError({ message: `unknown method "${method}"`, field: "method" });
  }
  const m = method as Method;
  const valid = parseParams(m, params);
  return (service[m] as (p: Params<typeof m>) => Promise<Results[typeof m]>)(valid);
}

/** A typed caller that goes through `dispatch`, so in-process clients (the CLI) get the same validation. */
export function caller(service: Service) {
  return <M extends Method>(method: M, params: Params<M>): Promise<Results[M]> => dispatch(service, method, params) as Promise<Results[M]>;
}

/** Run a prepared sandbox to its end without a terminal: its exit, and its output (the last MiB). */
function execSandbox(argv: string[], timeoutMs: number): Promise<{ exitCode: number | null; signal: string | null; output: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: {}, stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs, killSignal: "SIGKILL" });
    let out = Buffer.alloc(0);
    const take = (c: Buffer) => {
      out = Buffer.concat([out, c]);
      if (out.length > 1 << 20) out = out.subarray(out.length - (1 << 20));
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", (e) => resolveRun({ exitCode: null, signal: null, output: `cannot start the sandbox: ${e.message}` }));
    child.on("close", (code, signal) => resolveRun({ exitCode: code, signal, output: out.toString("utf8") }));
  });
}
