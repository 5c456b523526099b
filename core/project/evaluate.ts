// Evaluation: run .bramble modules, call the chosen functions, and collect the
// derivation graph they return. One EvalContext per (project, target); modules are
// executed once per context and shared by every function evaluated in it.
import { join, relative } from "node:path";
import { BRAMBLE_DIALECT, makeBudget, type Budget, StarlarkError, Thread, call, execFile, listFunctions, toJS, type Value } from "../starlark/index.js";
import { derivationInputs, type Derivation } from "../derivation/derivation.js";
import { makeBuiltins } from "./builtins.js";
import { consentedSandboxPaths, hostPathIdentities } from "../builders/host-access.js";
import { readLock } from "./lock.js";
import { moduleFile, parseModuleArg } from "./module-args.js";
import { type FetchedPackages, PackageError, owningProject, type ResolvedPackage, resolvePackage } from "./packages.js";
import { readRegularFile } from "./read-file.js";
import { configuredEvalLimits } from "./eval-limits.js";
import type { Project } from "./project.js";
import { hostSystem } from "../derivation/systems.js";
import { DerivationValue, type RunSpec, RunValue, type TestSpec } from "./values.js";

export interface EvalContext {
  project: Project;
  host: string;
  target: string;
  /** every derivation created, by hash */
  drvs: Map<string, Derivation>;
  /** hash → file:line:col of the derivation() call that made it */
  locations: Map<string, string>;
  runs: RunSpec[];
  tests: TestSpec[];
  /** bramble.lock entries */
  lock: Map<string, string>;
  /** fixed-output derivation hash → its bramble.lock key */
  fetchKeys: Map<string, string>;
  /** a path files() returned → the directories of the modules whose files() listed it */
  filesOrigins: Map<string, string[]>;
  modules: Map<string, Map<string, Value>>;
  loading: string[];
  predeclared: Record<string, Value>;
  /** the project's sandbox_paths the user allowed, with their identities: every derivation() gets them (impure) */
  hostPaths?: Record<string, string>;
  /** the step and time budget every thread of this evaluation draws from */
  budget: Budget;
  /** where the dependencies by version were fetched (dependencies.ts): package name → directory */
  packages: FetchedPackages;
}

/** An evaluation's limits: steps (loop iterations and calls) and wall-clock time. */
export interface EvalLimits {
  maxSteps?: number;
  timeoutMs?: number;
  /** true once the evaluation is cancelled (checked between slices of steps) */
  cancelled?: () => boolean;
}

/** The defaults: far more than any real project needs, and a project that loops forever stops. */
export const DEFAULT_EVAL_LIMITS = { maxSteps: 500_000_000, timeoutMs: 60_000 };

export interface Evaluation {
  project: Project;
  host: string;
  target: string;
  /** the derivations reachable from the roots, by hash */
  drvs: Map<string, Derivation>;
  locations: Map<string, string>;
  roots: string[];
  runs: RunSpec[];
  /** the run() values the called functions returned, in order (what `bramble run` starts) */
  returnedRuns: RunSpec[];
  tests: TestSpec[];
  fetchKeys: Map<string, string>;
}

export function createContext(project: Project, opts: { target?: string; host?: string; limits?: EvalLimits; packages?: FetchedPackages } = {}): EvalContext {
  const host = opts.host ?? hostSystem();
  const ctx: EvalContext = {
    project,
    host,
    target: opts.target ?? host,
    drvs: new Map(),
    locations: new Map(),
    runs: [],
    tests: [],
    lock: readLock(project.root).urlhashes,
    fetchKeys: new Map(),
    filesOrigins: new Map(),
    modules: new Map(),
    loading: [],
    predeclared: {},
    // Host paths are the user's decision: refused here unless allowed (host-access.ts).
    hostPaths: project.sandboxPaths.length ? hostPathIdentities(consentedSandboxPaths(project.root, project.sandboxPaths)) : undefined,
    budget: makeBudget({ ...DEFAULT_EVAL_LIMITS, ...configuredEvalLimits(), ...definedOnly(opts.limits ?? {}) }),
    packages: opts.packages ?? {},
  };
  ctx.predeclared = makeBuiltins(ctx);
  return ctx;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A new Thread that draws on the evaluation's budget. */
function budgetedThread(ctx: EvalContext, name: string): Thread {
  const thread = new Thread(name);
  thread.budget = ctx.budget;
  thread.maxSteps = 0; // the first step takes a slice from the budget
  return thread;
}

/**
 * The file a load() names: a package path resolved by longest matching package name
 * (packages.ts) against the project that owns the loading file.
 */
function resolveLoad(ctx: EvalContext, module: string, from?: string): string {
  const project = from ? owningProject(from, ctx.project) : ctx.project;
  let resolved: ResolvedPackage;
  try {
    resolved = resolvePackage(project, module, ctx.packages);
  } catch (err) {
    if (err instanceof PackageError) throw new StarlarkError(err.message);
    throw err;
  }
  const target = resolved.sub ? join(resolved.root, resolved.sub) : resolved.root;
  const file = moduleFile(target);
  if (!file) {
    throw new StarlarkError(
      `no module "${module}" (package "${resolved.pkg}" at ${resolved.root}; looked for ${target}/default.bramble and ${target}.bramble)`,
    );
  }
  return file;
}

export function execModule(ctx: EvalContext, file: string): Map<string, Value> {
  const cached = ctx.modules.get(file);
  if (cached) return cached;
  if (ctx.loading.includes(file)) {
    const cycle = [...ctx.loading.slice(ctx.loading.indexOf(file)), file].map((f) => relative(ctx.project.root, f)).join(" -> ");
    throw new StarlarkError(`cycle in load graph: ${cycle}`);
  }
  let source: string;
  try {
    source = readRegularFile(file, "module");
  } catch (err) {
    throw new StarlarkError(`cannot read ${file}: ${(err as Error).message}`);
  }
  ctx.loading.push(file);
  try {
    const thread = budgetedThread(ctx, relative(ctx.project.root, file) || file);
    // BRAMBLE_DIALECT includes bramble's whole-module load("pkg/dir") and load(alias="pkg/dir").
    const globals = execFile(thread, file, source, ctx.predeclared, {
      dialect: BRAMBLE_DIALECT,
      load: (_t, module) => execModule(ctx, resolveLoad(ctx, module, file)),
    });
    ctx.modules.set(file, globals);
    return globals;
  } finally {
    ctx.loading.pop();
  }
}

/** Every derivation in a function's return value (lists, tuples, dicts, nested). */
function collectDerivations(v: unknown, out: string[], runs: RunSpec[]): void {
  if (v instanceof DerivationValue) out.push(v.drvHash);
  else if (v instanceof RunValue) {
    // A function that returns run(...) names the program `bramble run` starts.
    out.push(v.spec.derivation);
    runs.push(v.spec);
  } else if (Array.isArray(v) || v instanceof Set) for (const item of v) collectDerivations(item, out, runs);
  else if (v instanceof Map) for (const item of v.values()) collectDerivations(item, out, runs);
}

/** The derivations reachable from `roots` through `{{ hash:output }}` references. */
export function closureOf(all: Map<string, Derivation>, roots: string[]): Map<string, Derivation> {
  const out = new Map<string, Derivation>();
  const stack = [...roots];
  while (stack.length > 0) {
    const hash = stack.pop()!;
    if (out.has(hash)) continue;
    const drv = all.get(hash);
    if (!drv) throw new Error(`derivation ${hash} is referenced but was never defined`);
    out.set(hash, drv);
    for (const ref of derivationInputs(drv)) stack.push(ref.hash);
  }
  return out;
}

/**
 * An error of calling `name` that has no position of its own (a budget or a cancel that
 * stopped the call before its first statement) is placed at the function's `def`.
 */
function atDefinition(err: unknown, file: string, name: string): unknown {
  if (!(err instanceof StarlarkError) || err.pos) return err;
  const line = listFunctions(file, readRegularFile(file, "module")).find((f) => f.name === name)?.line;
  return line ? err.setPos({ file, line, col: 1 }) : err;
}

/** Evaluate module arguments (see module-args.ts) relative to `cwd`. */
export function evaluate(ctx: EvalContext, moduleArgs: string[], cwd: string, opts: { justParse?: boolean } = {}): Evaluation {
  const roots: string[] = [];
  const returnedRuns: RunSpec[] = [];
  for (const arg of moduleArgs) {
    for (const sel of parseModuleArg(arg, cwd, ctx.project, ctx.packages)) {
      const globals = execModule(ctx, sel.file);
      if (opts.justParse) continue;
      const thread = budgetedThread(ctx, relative(ctx.project.root, sel.file));
      let names: string[];
      if (sel.fn) {
        if (!globals.has(sel.fn)) {
          const fns = listFunctions(sel.file, readRegularFile(sel.file, "module")).map((f) => f.name);
          throw new StarlarkError(`${sel.file}: no function "${sel.fn}" (functions here: ${fns.join(", ") || "none"})`);
        }
        names = [sel.fn];
      } else {
        names = listFunctions(sel.file, readRegularFile(sel.file, "module"))
          .filter((f) => !f.name.startsWith("_") && f.params.length === 0)
          .map((f) => f.name);
      }
      for (const name of names) {
        try {
          collectDerivations(toJS(call(thread, globals.get(name)!, [])), roots, returnedRuns);
        } catch (err) {
          throw atDefinition(err, sel.file, name);
        }
      }
    }
  }
  const uniqueRoots = [...new Set(roots)];
  // test() declarations (top-level ones included) name derivations no function may return: they are part of the graph.
  const drvs = closureOf(ctx.drvs, [...uniqueRoots, ...ctx.tests.map((t) => t.derivation)]);
  return {
    project: ctx.project,
    host: ctx.host,
    target: ctx.target,
    drvs,
    locations: ctx.locations,
    roots: uniqueRoots,
    runs: ctx.runs,
    returnedRuns,
    tests: ctx.tests,
    fetchKeys: ctx.fetchKeys,
  };
}
