// The `bramble` command. A thin client of the same service the app uses.
// Exit codes: 0 success, 1 build or evaluation failure, 2 usage.
import { Command, CommanderError } from "commander";
import { existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { BuildEvent, Graph, Params, RunInfo, SandboxHandle, TestInfo } from "../api/schema.js";
import type { ServiceHost } from "../api/service.js";
import { registerEngineCommands } from "./engine-commands.js";
import { jsonReporter, textReporter, type Reporter } from "./progress.js";
import { spawn } from "node:child_process";
import { constants as osConstants } from "node:os";
import { displayName } from "./naming.js";
import { outLinkNames } from "./out-links.js";
import { quietOnClosedPipe } from "./closed-pipe.js";
import { VERSION } from "../version.js";

/**
 * The Starlark interpreter's command, loaded by starlark and repl (the service's commands load
 * the interpreter with the service): help loads neither. -recursion's worker thread loads
 * dist/fast.cjs, the interpreter's own bundle beside this one, for its starlarkMain
 * (core/starlark/cli.ts runDeep); the chunk holding the interpreter here exports none by name.
 */
async function starlarkCli(): Promise<typeof import("../starlark/cli.js")> {
  const cli = await import("../starlark/cli.js");
  cli.setDeepEntry(new URL("./fast.cjs", import.meta.url).href);
  return cli;
}

// The service, the project's loader and the server are loaded by the commands that use them
// (makeProgram's preAction hook), never by help, --version, starlark, repl or ls: they are most of
// the bundle's start-up (issue 17 point 4; command-modules.ts, `npm run bench -- startup`).
type Loaded = typeof import("./command-modules.js");
let caller: Loaded["caller"];
let createService: Loaded["createService"];
let firstModuleArg: Loaded["firstModuleArg"];
let moduleInfos: Loaded["moduleInfos"];
let toApiError: Loaded["toApiError"];
let workerEvaluator: Loaded["workerEvaluator"];
let localCaller: Loaded["localCaller"];
let findProjectRoot: Loaded["findProjectRoot"];
let loadProject: Loaded["loadProject"];
let readProject: Loaded["readProject"];
let checkModuleArgSyntax: Loaded["checkModuleArgSyntax"];
let isPathArg: Loaded["isPathArg"];
let MODULE_ARG_FORMS: Loaded["MODULE_ARG_FORMS"];
let ModuleArgError: Loaded["ModuleArgError"];
let moduleArgPath: Loaded["moduleArgPath"];

let loading: Promise<void> | undefined;
function loadCommandModules(): Promise<void> {
  loading ??= (async () => {
    const m = await import("./command-modules.js");
    caller = m.caller;
    createService = m.createService;
    firstModuleArg = m.firstModuleArg;
    moduleInfos = m.moduleInfos;
    toApiError = m.toApiError;
    workerEvaluator = m.workerEvaluator;
    localCaller = m.localCaller;
    findProjectRoot = m.findProjectRoot;
    loadProject = m.loadProject;
    readProject = m.readProject;
    checkModuleArgSyntax = m.checkModuleArgSyntax;
    isPathArg = m.isPathArg;
    MODULE_ARG_FORMS = m.MODULE_ARG_FORMS;
    ModuleArgError = m.ModuleArgError;
    moduleArgPath = m.moduleArgPath;
  })();
  return loading;
}

/** A failure already explained to the user; exit with its code. */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

function fail(err: unknown): never {
  const info = toApiError(err);
  throw new ExitError(info.message, 1);
}

/** commander's way to take one value per option and repeat the option for more. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Split a command-line module argument into its project and a project-relative argument. */
export function locateModuleArg(arg: string, cwd: string): { project: string; moduleArg: string } {
  try {
    checkModuleArgSyntax(arg);
  } catch (err) {
    if (err instanceof ModuleArgError) throw new ExitError(err.message, 2);
    throw err;
  }
  const root = findProjectRoot(moduleArgPath(arg, cwd));
  const colon = arg.lastIndexOf(":");
  const hasFn = colon > 0 && /^[A-Za-z_]\w*$/.test(arg.slice(colon + 1));
  let path = hasFn ? arg.slice(0, colon) : arg;
  const suffix = hasFn ? arg.slice(colon) : "";
  const dots = path.endsWith("/...") ? "/..." : "";
  if (dots) path = path.slice(0, -4);
  if (!isPathArg(path, cwd, readProject(root))) return { project: root, moduleArg: arg };
  const rel = relative(root, resolve(cwd, path));
  return { project: root, moduleArg: `${rel === "" ? "." : `./${rel}`}${dots}${suffix}` };
}

function staticDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, "renderer"), join(here, "../../dist/renderer")]) {
    if (existsSync(join(candidate, "index.html"))) return candidate;
  }
  return join(here, "renderer");
}

/** A worker script (dist/eval-worker.mjs, dist/hash-worker.mjs) beside the bundled CLI, if it is built. */
function workerScript(name: string): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, name), join(here, "../../dist", name)]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

async function withService<T>(fn: (host: ServiceHost) => Promise<T>): Promise<T> {
  const host = createService();
  try {
    return await fn(host);
  } finally {
    host.close();
  }
}

function requireModuleArgs(args: string[]): void {
  if (args.length === 0) {
    throw new ExitError(`give a module argument, in one of these forms:\n  ${MODULE_ARG_FORMS.join("\n  ")}`, 2);
  }
}

function printGraph(graph: Graph): void {
  const byHash = new Map(graph.nodes.map((n) => [n.hash, n]));
  for (const n of graph.nodes) {
    const deps = graph.edges.filter((e) => e.to === n.hash).map((e) => byHash.get(e.from)?.name ?? e.from);
    const cross = n.platform !== n.system ? ` (built on ${n.platform})` : "";
    const impure = n.hostPaths ? `  impure (host paths ${n.hostPaths.join(", ")})` : "";
    console.log(`${n.hash}  ${n.name}  [${n.badge}] ${n.system}${cross}  ${n.state}${impure}${deps.length ? `  <- ${deps.join(", ")}` : ""}`);
  }
}

interface BuildFlags {
  target?: string;
  builder?: string;
  jobs?: string;
  keepGoing?: boolean;
  keepFailed?: boolean;
  keepRemote?: boolean;
  remoteCache?: string;
  json?: boolean;
  dryRun?: boolean;
  justParse?: boolean;
  timeout?: string;
  verbose?: boolean;
  printBuildLogs?: boolean;
  outLink?: string;
  rebuild?: string | boolean;
  pure?: boolean;
  check?: boolean;
}

type RunFinished = Extract<BuildEvent, { type: "run-finished" }>;

/** Start a build through the service and report its events until it finishes; Ctrl-C cancels it. */
async function buildAndWait(
  host: ServiceHost,
  params: Params<"build.start">,
  reporter: Reporter,
): Promise<{
  result: RunFinished;
  roots: { hash: string; name: string; system?: string }[];
  outputs: Map<string, Record<string, string>>;
  tests?: TestInfo[];
  runs?: RunInfo[];
}> {
  const outputs = new Map<string, Record<string, string>>();
  let finish!: (e: RunFinished) => void;
  const finished = new Promise<RunFinished>((r) => (finish = r));
  let runId: string | undefined;
  const early: BuildEvent[] = [];
  const onEvent = (e: BuildEvent) => {
    if (runId === undefined) return void early.push(e);
    if (e.runId !== runId) return;
    reporter.event(e);
    if (e.type === "built" || e.type === "cached") outputs.set(e.hash, e.outputs);
    if (e.type === "run-finished") finish(e);
  };
  const unsubscribe = host.onEvent(onEvent);
  // Until the build has started (evaluation runs on this thread) SIGINT and SIGTERM keep
  // their default action and end the process at once. Then the first one cancels the run
  // and a second one ends the process without waiting for the cancel.
  let signals = 0;
  const onSigint = (signal: NodeJS.Signals) => {
    if (++signals > 1) process.exit(128 + (osConstants.signals[signal] ?? 2));
    if (runId) void caller(host.service)("build.cancel", { runId });
  };
  try {
    const started = await caller(host.service)("build.start", params).catch(fail);
    // Nothing to build (tests asked for, none declared): no run was started.
    if (started.runId === "")
      return { result: { type: "run-finished", runId: "", status: "built", built: 0, cached: 0, failed: 0 }, roots: [], outputs, tests: started.tests };
    runId = started.runId;
    process.on("SIGINT", onSigint);
    process.on("SIGTERM", onSigint);
    for (const e of early.splice(0)) onEvent(e);
    const result = await finished;
    reporter.finish();
    return { result, roots: started.roots, outputs, tests: started.tests, runs: started.runs };
  } finally {
    unsubscribe();
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
  }
}

/** Spawn a sandbox the service prepared, with the terminal attached; resolves to its exit code. */
function spawnAttached(host: ServiceHost, sandbox: SandboxHandle): Promise<number> {
  const close = () => void caller(host.service)("sandbox.close", { sandbox: sandbox.sandbox }).catch(() => undefined);
  return new Promise((resolveExit) => {
    const child = spawn(sandbox.argv[0]!, sandbox.argv.slice(1), { stdio: "inherit", env: {} });
    child.on("exit", (code, signal) => {
      close();
      resolveExit(code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1));
    });
    child.on("error", (err) => {
      close();
      console.error(`cannot start the sandbox: ${err.message}`);
      resolveExit(1);
    });
  });
}

async function buildCommand(args: string[], flags: BuildFlags): Promise<void> {
  requireModuleArgs(args);
  const jobs = flags.jobs === undefined ? undefined : Number(flags.jobs);
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) throw new ExitError(`-j must be a positive integer, not "${flags.jobs}"`, 2);
  const timeout = flags.timeout === undefined ? undefined : Number(flags.timeout);
  if (timeout !== undefined && !(timeout > 0)) throw new ExitError(`--timeout must be a positive number of seconds, not "${flags.timeout}"`, 2);
  if (flags.justParse) return justParse(args);
  let failed = false;
  await withService(async (host) => {
    for (const arg of args) {
      const where = locateModuleArg(arg, process.cwd());
      if (flags.dryRun) {
        const graph = await caller(host.service)("graph.evaluate", { ...where, target: flags.target }).catch(fail);
        for (const n of graph.nodes) {
          const what = n.state === "not-built" ? (n.planError ? `cannot build: ${n.planError}` : `would build on ${n.backend}`) : n.state;
          console.log(`${n.name}  ${n.system}  ${what}${n.hostPaths ? `  impure (host paths ${n.hostPaths.join(", ")})` : ""}`);
        }
        continue;
      }
      const names = new Map<string, string>();
      const reporter = flags.json ? jsonReporter(process.stdout) : textReporter(process.stderr, names, { verbose: !!(flags.verbose || flags.printBuildLogs) });
      const run = await buildAndWait(
        host,
        {
          ...where,
          target: flags.target,
          builder: flags.builder,
          jobs,
          keepGoing: flags.keepGoing,
          keepFailed: flags.keepFailed,
          keepRemote: flags.keepRemote,
          remoteCache: flags.remoteCache,
          timeout,
          pure: flags.pure,
        },
        reporter,
      );
      if (!flags.json) {
        for (const root of run.roots) {
          // A name several roots share (one recipe for several systems) is shown with its system.
          const shown = displayName(root.name, root.system, run.roots);
          for (const [output, path] of Object.entries(run.outputs.get(root.hash) ?? {})) {
            console.log(`${shown}${output === "out" ? "" : `.${output}`}: ${path}`);
          }
        }
        console.error(`${run.result.status}: ${run.result.built} built, ${run.result.cached} cached, ${run.result.failed} failed`);
      }
      if (run.result.status === "built" && flags.outLink !== undefined) {
        // Nix's result symlinks, each an indirect gc root (out-links.ts).
        for (const { link, target } of outLinkNames(
          flags.outLink,
          run.roots.map((r) => run.outputs.get(r.hash) ?? {}),
        )) {
          await localCaller(host)("outLink.make", { link, target });
        }
      }
      if (run.result.status !== "built") failed = true;
      else if (
        (flags.check || flags.rebuild) &&
        !(await checkCommand(host, where, flags.target, jobs, typeof flags.rebuild === "string" ? flags.rebuild : undefined))
      )
        failed = true;
    }
  });
  if (failed) throw new ExitError("", 1);
}

/** `build --check`: rebuild the tree in a fresh store and compare (the service's build.check, core/build/check.ts). */
async function checkCommand(
  host: ServiceHost,
  where: { project: string; moduleArg: string },
  target: string | undefined,
  jobs: number | undefined,
  only?: string,
): Promise<boolean> {
  const call = localCaller(host, { checkStarted: () => console.error(`check: building ${where.moduleArg} again in a fresh store`) });
  const r = await call("build.check", { ...where, target, jobs, only });
  for (const f of r.failed) console.error(`check: ${f} failed to build again`);
  for (const d of r.differences) {
    console.error(
      `check: ${d.name}${d.output === "out" ? "" : `.${d.output}`} differs when built again: ${d.firstDifference}\n  first build: ${d.expected}\n  rebuild:     ${d.got}`,
    );
  }
  const ok = r.failed.length === 0 && r.differences.length === 0;
  console.error(
    ok
      ? `check: ${r.checked} derivations built again, every output identical`
      : `check: ${r.differences.length} outputs differ, ${r.failed.length} rebuilds failed`,
  );
  return ok;
}

/** `--just-parse`: load every module the arguments name, call nothing, build nothing (the service's project.parse). */
async function justParse(args: string[]): Promise<void> {
  await withService(async (host) => {
    for (const arg of args) {
      const where = locateModuleArg(arg, process.cwd());
      const { modules } = await localCaller(host)("project.parse", where).catch(fail);
      console.error(`parsed ${modules} module${modules === 1 ? "" : "s"} for ${arg}`);
    }
  });
}

export function makeProgram(): Command {
  const program = new Command("bramble")
    .description("A functional, reproducible build system for more than one system")
    .version(VERSION)
    // Every command but starlark, repl and ls loads the service first (loadCommandModules).
    .hook("preAction", (_, action) => (["starlark", "repl", "ls"].includes(action.name()) ? undefined : loadCommandModules()))
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: (str, write) => write(str) })
    // Options after `run <module-arg> <program>` belong to the program.
    .enablePositionalOptions();

  program
    .command("build")
    .description("evaluate module arguments and build their derivations")
    .argument("[module-args...]", "e.g. ./examples/hello:default")
    .option("--target <system>", "retarget the tree to this system (sys.target)")
    .option("--builder <backend>", "build every derivation on this backend")
    .option("-j, --jobs <n>", "derivations to build at once (default: the core count)")
    .option("--keep-going", "go on building what does not depend on a failure")
    .option("--keep-failed", "keep a failed build's directory")
    .option("--keep-remote", "leave outputs built on another backend in its store (no copy to the local store)")
    .option("--remote-cache <backend>", "a reapi backend whose Action Cache local builds consult first and fill after (docs/remote.md)")
    .option("--dry-run", "print the plan (backend per derivation, what is cached) and build nothing")
    .option("--just-parse", "load the modules and stop: no functions called, nothing built")
    .option("--timeout <seconds>", "stop a builder that runs longer than this")
    .option("--pure", "refuse impure derivations (those that see host paths through sandbox_paths)")
    .option("--check", "build again in a fresh store and compare; name the first file that differs (exit 1)")
    .option("--rebuild [derivation]", "as --check (Nix's name for it); with a derivation (a name, a hash or a unique prefix), only that one and what it needs")
    .option("-o, --out-link <path>", "make <path> (and <path>-<output>, <path>-2 ...) a symlink to the result, kept from gc while it exists")
    .option("-L, --print-build-logs", "print build logs as they are written (Nix's name for -v)")
    .option("--json", "print one JSON build event per line")
    .option("-v, --verbose", "print build logs as they are written")
    .action(buildCommand);

  program
    .command("allow-paths")
    .description("allow a project's sandbox_paths (host paths in its sandboxes) on this machine; its derivations become impure")
    .argument("[dir]", "the project (default: the one here)", ".")
    .action(async (dir: string) => {
      const allowed = await withService((host) => localCaller(host)("project.allowPaths", { project: resolve(dir) }));
      if (allowed.file === undefined) {
        console.error(`${allowed.root}: bramble.toml asks for no host paths (sandbox_paths); nothing to allow`);
        return;
      }
      console.error(`allowed for ${allowed.root}: ${allowed.paths.join(", ")} (remembered in ${allowed.file}); its derivations are impure`);
    });

  program
    .command("run")
    .description(
      "build a module's outputs and run a program from them in a sandbox, in the current directory (a function returning run(...) names the program)",
    )
    .passThroughOptions()
    .argument("<module-arg>", "what to build, e.g. ./examples/cross:hello")
    .argument(
      "[command]",
      "the program (found on the outputs' bin directories); when the function returns run(...), its cmd runs and this is its first argument",
    )
    .argument("[args...]", "the program's arguments (after the run() value's args)")
    .option("--paths <path>", "a host path the program may write (repeat the option for more)", collect, [])
    .option("--read-only-paths <path>", "a host path the program may read (repeat for more)", collect, [])
    .option("--hidden-paths <path>", "a host path the program must not see (repeat for more)", collect, [])
    .option("--network", "let the program reach the network")
    .option("--target <system>", "retarget the tree first")
    .action(
      async (
        arg: string,
        command: string | undefined,
        args: string[],
        flags: { paths: string[]; readOnlyPaths: string[]; hiddenPaths: string[]; network?: boolean; target?: string },
      ) => {
        const where = locateModuleArg(arg, process.cwd());
        const code = await withService(async (host) => {
          const run = await buildAndWait(host, { ...where, target: flags.target }, textReporter(process.stderr, new Map(), { verbose: false }));
          if (run.result.status !== "built") throw new ExitError(`${arg} did not build`, 1);
          const spec = run.runs?.[0];
          const hashes = spec ? [spec.derivation] : run.roots.map((r) => r.hash);
          // A program for a system nothing here runs would die with a shell error (a Mach-O read as a script): refuse, naming it.
          const systems = new Set(
            (await caller(host.service)("backends.list", {}))
              .filter((b) => b.available && (b.kind === "local" || b.kind === "qemu"))
              .flatMap((b) => b.platforms),
          );
          for (const r of run.roots.filter((x) => hashes.includes(x.hash))) {
            if (r.system && r.system !== "any" && !systems.has(r.system)) {
              throw new ExitError(
                `bramble run: ${r.name} is built for ${r.system}, and nothing here runs ${r.system} programs (this machine runs ${[...systems].join(", ") || "none"})`,
                1,
              );
            }
          }
          const paths = hashes.flatMap((h) => Object.values(run.outputs.get(h) ?? {}));
          // With a run() value, every word after the module argument is an argument of its program (as in bramble).
          const extraArgs = spec && command !== undefined ? [command, ...args] : args;
          const program = spec ? spec.cmd : command;
          if (!program) throw new ExitError(`say which program to run from ${paths.join(", ")} (or return run(...) from the function)`, 2);
          const cwd = process.cwd();
          const specPaths = (spec?.paths ?? []).map((p) => resolve(cwd, p));
          const sandbox = await caller(host.service)("run.open", {
            project: where.project,
            paths,
            command: [program, ...(spec?.args ?? []), ...extraArgs],
            readOnlyPaths: [...(spec?.readOnly ? specPaths : []), ...flags.readOnlyPaths.map((p) => resolve(p))],
            writablePaths: [...(spec?.readOnly ? [] : specPaths), ...flags.paths.map((p) => resolve(p))],
            hiddenPaths: [...(spec?.hiddenPaths ?? []).map((p) => resolve(cwd, p)), ...flags.hiddenPaths.map((p) => resolve(p))],
            network: flags.network || spec?.network || undefined,
            cwd,
            // a program for another Linux architecture runs under qemu, as the qemu backend builds
            system: runSystem(run.roots.filter((x) => hashes.includes(x.hash))),
          }).catch(fail);
          return spawnAttached(host, sandbox);
        });
        if (code !== 0) throw new ExitError("", code);
      },
    );

  program
    .command("test")
    .description("build the derivations that test() declares and run their test commands")
    .argument("[module-args...]", "e.g. ./... (default: every module of the project here)")
    .option("--target <system>", "retarget the tree first")
    .action(async (args: string[], flags: { target?: string }) => {
      const list = args.length > 0 ? args : ["./..."];
      let failures = 0;
      let total = 0;
      await withService(async (host) => {
        for (const arg of list) {
          const where = locateModuleArg(arg, process.cwd());
          // One evaluation: the service's, which builds the tests' derivations and lists them.
          const run = await buildAndWait(
            host,
            { ...where, target: flags.target, tests: true, keepGoing: true },
            textReporter(process.stderr, new Map(), { verbose: false }),
          );
          const tests = run.tests ?? [];
          if (tests.length === 0) {
            console.error(`${arg}: no tests`);
            continue;
          }
          for (const t of tests) {
            total++;
            const outputs = run.outputs.get(t.derivation);
            if (!outputs) {
              failures++;
              console.log(`FAIL ${t.name} (${t.location}): it did not build`);
              continue;
            }
            if (t.args.length === 0) {
              console.log(`ok   ${t.name}`);
              continue;
            }
            const paths = Object.values(outputs);
            const r = await caller(host.service)("sandbox.exec", {
              project: where.project,
              paths,
              command: t.args,
              env: { PATH: `${paths.map((p) => `${p}/bin`).join(":")}:/usr/bin:/bin`, ...Object.fromEntries(Object.entries(outputs)) },
            }).catch(fail);
            if (r.exitCode === 0) console.log(`ok   ${t.name} ${t.args.join(" ")}`);
            else {
              failures++;
              console.log(`FAIL ${t.name} ${t.args.join(" ")} (${t.location}): exit code ${r.exitCode ?? r.signal}`);
              for (const line of r.output.trimEnd().split("\n").slice(-20)) console.log(`    ${line}`);
            }
          }
        }
      });
      console.log(`${total - failures} passed, ${failures} failed`);
      if (failures > 0) throw new ExitError("", 1);
    });

  program
    .command("shell")
    .description("open a derivation's build sandbox (default: the last failed build's)")
    .argument("[what]", "a derivation (a name, a hash or a unique prefix), or a module argument (its first derivation)")
    .option("--target <system>", "retarget the tree first")
    .action(async (what: string | undefined, flags: { target?: string }) => {
      const code = await withService(async (host) => {
        // A derivation by name, hash or unique prefix (naming.ts) first; else a module argument.
        let hash: string | undefined;
        if (what) {
          const named = await localCaller(host)("derivation.resolve", { query: what });
          if (named.ambiguous) throw new ExitError(named.ambiguous, 1);
          hash = named.hash;
        }
        const where = what && !hash ? locateModuleArg(what, process.cwd()) : undefined;
        const sandbox = await caller(host.service)("shell.open", {
          ...(where ? { project: where.project, moduleArg: where.moduleArg, target: flags.target } : hash ? { hash } : {}),
        }).catch(fail);
        console.error(`bramble shell: the sandbox of ${sandbox.hash}; the builder's command is in $BRAMBLE_BUILDER`);
        return spawnAttached(host, sandbox);
      });
      if (code !== 0) throw new ExitError("", code);
    });

  program
    .command("graph")
    .description("print the derivation graph of module arguments")
    .argument("<module-arg>")
    .option("--target <system>", "retarget the tree to this system")
    .option("--json", "print the graph as JSON")
    .action(async (arg: string, flags: { target?: string; json?: boolean }) => {
      const graph = await withService((h) => caller(h.service)("graph.evaluate", { ...locateModuleArg(arg, process.cwd()), target: flags.target })).catch(fail);
      if (flags.json) console.log(JSON.stringify(graph, null, 2));
      else printGraph(graph);
    });

  program
    .command("diff")
    .description("show which derivations a retarget changes and which stay")
    .argument("<module-arg>")
    .requiredOption("--target <system>", "the system to retarget to")
    .option("--json", "print the diff as JSON")
    .action(async (arg: string, flags: { target: string; json?: boolean }) => {
      const diff = await withService((h) => caller(h.service)("graph.diff", { ...locateModuleArg(arg, process.cwd()), target: flags.target })).catch(fail);
      if (flags.json) {
        console.log(JSON.stringify({ changed: diff.changed, unchanged: diff.unchanged, rebuild: diff.rebuild }, null, 2));
        return;
      }
      const name = new Map(diff.to.nodes.map((n) => [n.hash, n]));
      console.log(`retargeting ${diff.from.target} -> ${diff.to.target}: ${diff.changed.length} changed, ${diff.unchanged.length} unchanged`);
      for (const h of diff.changed) console.log(`  changed    ${name.get(h)!.name}  ${name.get(h)!.system}`);
      for (const h of diff.unchanged) console.log(`  unchanged  ${name.get(h)!.name}  ${name.get(h)!.system}`);
      for (const r of diff.rebuild) console.log(`  would build ${r.name} on ${r.backend ?? `nothing (${r.reason})`}`);
    });

  program
    .command("ls")
    .description("list the modules at a path (a module, or a directory and the modules below it): docstrings, functions, parameters with their defaults")
    .argument("[path]", "a module or a directory in a project", ".")
    .action(async (path: string) => {
      // the project's reader alone: no service
      const { ListPathError, listModules } = await import("../project/listing.js");
      let listing;
      try {
        listing = listModules(path, process.cwd());
      } catch (err) {
        // A path with nothing there is a usage error; no project around it is a failure (1).
        throw new ExitError((err as Error).message, err instanceof ListPathError ? 2 : 1);
      }
      for (const m of listing) {
        console.log(`${m.module}  (${relative(process.cwd(), m.file) || m.file})`);
        if (m.error) console.log(`  does not parse: ${m.error}`);
        if (m.doc) for (const line of m.doc.trim().split("\n")) console.log(`  ${line.trim()}`.trimEnd());
        for (const f of m.functions) {
          console.log(`  ${f.name}(${f.params.join(", ")})${f.doc ? `  ${f.doc.trim().split("\n")[0]}` : ""}`);
        }
      }
    });

  program
    .command("serve")
    .description("serve the app and its WebSocket API (loopback, token required)")
    .argument("[project]", "the project to open", ".")
    .option("--port <port>", "port (0 picks a free one)", "0")
    .option("--host <address>", "address to bind", "127.0.0.1")
    .option("--token <token>", "use this token instead of a random one")
    .option("--function <module-arg>", "the function the app shows first, relative to the project (e.g. .:default)")
    .action(async (projectDir: string, flags: { port: string; host: string; token?: string; function?: string }) => {
      // the server (and the WebSocket's ws) for serve alone
      const { startServer } = await import("../serve/server.js");
      let defaultProject: string | null = null;
      let defaultModuleArg: string | null = null;
      try {
        const project = loadProject(resolve(projectDir));
        defaultProject = project.root;
        defaultModuleArg = flags.function ?? firstModuleArg(moduleInfos(project));
      } catch (err) {
        console.error(`note: ${(err as Error).message}; open a project from the app`);
      }
      if (!["127.0.0.1", "localhost", "::1"].includes(flags.host)) {
        console.error(`warning: binding ${flags.host} exposes the build service beyond this machine; anyone with the token can run builds`);
      }
      if (flags.token !== undefined && !/^[0-9a-f]{16,}$/.test(flags.token)) throw new ExitError("--token must be at least 16 hex digits", 2);
      // Evaluations and output hashing run in worker threads, so one client's slow project or
      // large output never stalls another.
      const worker = workerScript("eval-worker.mjs");
      if (!worker) console.error("note: dist/eval-worker.mjs is missing (run npm run build); evaluating on the server's own thread");
      const host = createService({
        defaultProject: defaultProject ?? undefined,
        defaultModuleArg: defaultModuleArg ?? undefined,
        evaluator: worker ? workerEvaluator(worker) : undefined,
        watch: true,
      });
      await localCaller(host)("hashWorkers.use", { script: workerScript("hash-worker.mjs") });
      const server = await startServer({ host, staticDir: staticDir(), bind: flags.host, port: Number(flags.port), token: flags.token });
      console.log(`Bramble Studio is running at ${server.url}`);
      let stopping = false;
      const stop = async () => {
        // A second signal does not wait for the first one's clean close.
        if (stopping) process.exit(130);
        stopping = true;
        await server.close();
        host.close();
        process.exit(0);
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });

  program
    .command("backends")
    .description("list builder backends, the platforms they offer, and whether they are available")
    .option("--json", "print as JSON")
    .option("--project <dir>", "the project whose [backends.*] are listed too (default: the project here, if any)")
    .action(async (flags: { json?: boolean; project?: string }) => {
      let project = flags.project;
      if (project === undefined) {
        try {
          project = findProjectRoot(process.cwd());
        } catch {
          /* not in a project: the user's backends only */
        }
      }
      const list = await withService((h) => caller(h.service)("backends.list", project ? { project: resolve(project) } : {})).catch(fail);
      if (flags.json) return console.log(JSON.stringify(list, null, 2));
      for (const b of list) {
        console.log(`${b.name.padEnd(10)} ${b.available ? "available  " : "unavailable"} ${b.platforms.join(", ")}${b.reason ? `  (${b.reason})` : ""}`);
      }
    });

  program
    .command("starlark")
    .description("run a plain Starlark file (or -c PROGRAM) as starlark-go's command does; -h for its options")
    .argument("[args...]")
    .helpOption(false)
    .allowUnknownOption()
    .action(async (args: string[]) => {
      const code = (await starlarkCli()).starlarkMain(args);
      if (code !== 0) throw new ExitError("", code);
    });

  program
    .command("repl")
    .description("an interactive Starlark prompt")
    .action(async () => {
      await (await starlarkCli()).repl(process.stdin, process.stdout);
    });

  registerEngineCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = makeProgram();
  program.exitOverride();
  for (const cmd of program.commands) cmd.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return 0;
      return 2;
    }
    if (err instanceof ExitError) {
      if (err.message) console.error(err.message);
      return err.code;
    }
    await loadCommandModules();
    console.error(toApiError(err).message);
    return 1;
  }
}

/** The system of the program `bramble run` starts: its derivations' one system other than "any", or undefined. */
function runSystem(roots: { system?: string }[]): string | undefined {
  const systems = [...new Set(roots.map((r) => r.system).filter((s) => s !== undefined && s !== "any"))];
  return systems.length === 1 ? systems[0] : undefined;
}

const isEntry = process.argv[1] !== undefined && /(?:cli\.mjs|bramble(?:\.mjs)?)$/.test(process.argv[1]);
if (isEntry) {
  quietOnClosedPipe(process.argv.slice(2));
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
