// Sandboxes for people: `bramble shell` (a derivation's build sandbox, interactive) and
// `bramble run` (a built program with its closure, plus the paths the user allows).
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { derivationInputs, type Derivation } from "../derivation/derivation.js";
import type { Engine } from "../build/engine.js";
import { basename } from "node:path";
import { removeTree } from "../store/store.js";
import { addTempRoots, waitForGc } from "../store/temp-roots.js";
import { makeTempRoot, prepareSandbox } from "./local.js";
import { bwrapArgv, findBwrap, HOMELESS } from "./sandbox.js";

export interface SandboxCommand {
  /** bwrap and its arguments; spawn with stdio inherited and an empty environment */
  argv: string[];
  /** the build directory on the host (mounted at /build) */
  dir: string;
  /** remove the temporary directories */
  cleanup(): void;
}

export interface ShellOptions {
  /** true: an interactive /bin/sh in the sandbox; false: run the builder as a build would */
  interactive?: boolean;
  projectRoot: string;
  sandboxPaths: string[];
  /** the evaluated graph, when the derivation is not yet recorded in the DB */
  drvs?: Map<string, Derivation>;
  /** the shell to start (default /bin/sh) */
  shell?: string;
}

/**
 * Hold store paths as temporary gc roots (temp-roots.ts), then, once no gc that began before
 * they were held runs, make sure they are all still there.
 */
async function holdValid(engine: Engine, names: string[]): Promise<() => void> {
  const release = addTempRoots(engine.layout.varDir, names);
  try {
    await waitForGc(engine.layout.lockDir);
    const gone = names.filter((n) => !engine.store.has(n) || !existsSync(engine.store.path(n)));
    if (gone.length) throw new Error(`gc removed ${gone.map((n) => engine.store.path(n)).join(", ")} meanwhile: build it again`);
  } catch (e) {
    release();
    throw e;
  }
  return release;
}

/**
 * The command that opens a derivation's build sandbox: same inputs, sources, environment
 * and paths as its build, with writable (temporary) outputs. Its inputs must be built.
 */
export async function sandboxCommand(engine: Engine, drvHash: string, opts: ShellOptions): Promise<SandboxCommand> {
  const drv = opts.drvs?.get(drvHash) ?? engine.db.getDerivation(drvHash);
  if (!drv) throw new Error(`unknown derivation ${drvHash}`);
  const missing: string[] = [];
  const resolveName = (h: string, o: string) => {
    const n = engine.db.drvOutputs(h)?.[o];
    if (!n) {
      missing.push(`${opts.drvs?.get(h)?.name ?? engine.db.getDerivation(h)?.name ?? h} (${h})`);
      return "missing";
    }
    return n;
  };
  const inputNames = derivationInputs(drv).map((r) => resolveName(r.hash, r.output));
  if (missing.length) throw new Error(`build the inputs of ${drv.name} first: ${[...new Set(missing)].join(", ")}`);
  // gc keeps the inputs while the shell is open.
  const releaseRoots = await holdValid(engine, inputNames);
  const interactive = opts.interactive ?? true;
  const p = prepareSandbox(engine.store, drv, {
    resolve: (r) => resolveName(r.hash, r.output),
    inputClosure: [...engine.store.closureSync(inputNames)],
    projectRoot: opts.projectRoot,
    sandboxPaths: opts.sandboxPaths,
    tag: "shell",
    command: interactive ? [opts.shell ?? "/bin/sh", "-i"] : undefined,
  });
  if (interactive) {
    p.spec.env.BRAMBLE_BUILDER = p.command.builder;
    // sh expands parameters in PS1 at every prompt (it has no \w): the current directory, as bash and dash both show it.
    p.spec.env.PS1 = `[bramble shell ${drv.name}] $PWD$ `;
    if (!p.spec.env.PATH) p.spec.env.PATH = "/usr/bin:/bin";
  }
  return {
    argv: bwrapArgv(p.spec),
    dir: join(p.root, "build"),
    cleanup: () => {
      removeTree(p.root);
      releaseRoots();
    },
  };
}

export interface RunOptions {
  /** store paths to expose (with their runtime closures), read-only */
  paths: string[];
  command: string[];
  /** host paths visible read-only (bramble's --read_only_paths, plus sandbox_paths) */
  readOnlyPaths?: string[];
  /** host paths visible writable (bramble's --paths) */
  writablePaths?: string[];
  network?: boolean;
  /** working directory (default: a fresh writable /build); a host directory is bound at the same path, read-only unless writable */
  cwd?: string;
  /** host paths hidden from the program: an empty directory (or /dev/null for a file) is mounted over each */
  hiddenPaths?: string[];
  env?: Record<string, string>;
}

/** The command that runs a built program in a sandbox (`bramble run`). */
export async function runCommand(engine: Engine, opts: RunOptions): Promise<SandboxCommand> {
  if (!findBwrap()) throw new Error("bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap");
  const names = opts.paths.map((p) => {
    const n = p.startsWith(engine.store.dir + "/") ? p.slice(engine.store.dir.length + 1).split("/")[0]! : basename(p);
    if (!engine.store.has(n)) throw new Error(`${p} is not a valid store path`);
    return n;
  });
  // gc keeps the program's outputs while it runs.
  const releaseRoots = await holdValid(engine, names);
  const root = makeTempRoot(engine.layout.tmpDir, "run");
  const build = join(root, "build");
  const storeMount = join(root, "store");
  mkdirSync(build);
  mkdirSync(storeMount);
  const argv = bwrapArgv({
    storeDir: engine.store.dir,
    storeMount,
    inputs: [...engine.store.closureSync(names)].map((n) => engine.store.path(n)),
    sandboxPaths: opts.readOnlyPaths ?? [],
    buildDir: build,
    cwd: opts.cwd ?? "/build",
    env: { HOME: HOMELESS, TMPDIR: "/tmp", PATH: "/usr/bin:/bin", ...(opts.env ?? {}) },
    network: !!opts.network,
    command: opts.command,
  });
  // Writable paths are bound after everything else, just before the command.
  const dashdash = argv.indexOf("--remount-ro");
  const extra = (opts.writablePaths ?? []).flatMap((p) => ["--bind", p, p]);
  // bramble run starts the program in the user's directory: bound read-only unless a writable path covers it.
  const writableCovers = (dir: string) => (opts.writablePaths ?? []).some((p) => dir === p || dir.startsWith(`${p}/`));
  if (opts.cwd && opts.cwd !== "/build" && !writableCovers(opts.cwd)) extra.unshift("--ro-bind", opts.cwd, opts.cwd);
  for (const h of opts.hiddenPaths ?? []) {
    let dir = false;
    try {
      dir = statSync(h).isDirectory();
    } catch {
      continue; // nothing there to hide
    }
    extra.push(...(dir ? ["--tmpfs", h, "--remount-ro", h] : ["--ro-bind", "/dev/null", h]));
  }
  argv.splice(dashdash, 0, ...extra);
  return {
    argv,
    dir: build,
    cleanup: () => {
      removeTree(root);
      releaseRoots();
    },
  };
}
