// `bramble starlark` (the reference's `starlark` command: a file, `-c PROGRAM`, dialect
// options, load() of files) and `bramble repl`. Imports only the interpreter, so a start-up
// path can call starlarkMain() without loading the rest of bramble.
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { fileOptions, runChunks, testPredeclared } from "./assert.js";
import { forgetSources, StarlarkError } from "./errors.js";
import { execFile, LoadFn } from "./eval.js";
import { json } from "./json.js";
import { math } from "./math.js";
import { DEFAULT_DIALECT, Dialect, PERMISSIVE_DIALECT } from "./resolver.js";
import { type Budget, makeBudget, Thread } from "./thread.js";
import { Value } from "./values.js";
import { repr } from "./repr.js";
import { forgetFormats } from "./string.js";

/**
 * A Node built-in module loaded when first needed (process.getBuiltinModule, Node 20.16), not
 * imported: `bramble starlark` starts without worker_threads, readline, net.
 */
export function nodeBuiltin<T>(id: string): T {
  return (process as unknown as { getBuiltinModule(id: string): T }).getBuiltinModule(id);
}

/**
 * Forget what the interpreter keeps from one run for the next (the sources errors quote, the
 * parsed format strings): a process that runs many programs (the Starlark server) calls it
 * between runs, so they neither grow it nor see each other's.
 */
export function forgetRunCaches(): void {
  forgetSources();
  forgetFormats();
}

/** Predeclared names for plain Starlark files: the json and math modules. */
export function standardPredeclared(): Map<string, Value> {
  return new Map<string, Value>([
    ["json", json],
    ["math", math],
  ]);
}

function formatError(e: unknown): string {
  if (e instanceof StarlarkError) return e.format();
  return `internal error: ${e instanceof Error ? e.message : String(e)}`;
}

interface Writable {
  write(s: string): unknown;
}

export const STARLARK_USAGE = `usage: bramble starlark [options] FILE
       bramble starlark [options] -c PROGRAM
Runs a plain Starlark file with the json and math modules, as starlark-go's command does.
options (one dash or two):
  -c PROGRAM           run PROGRAM instead of a file (named "cmdline" in errors)
  -recursion           allow recursive functions and while loops (as starlark-go's -recursion)
  -globalreassign      allow rebinding a top-level name, and if/for/while at top level and
                       while loops (as starlark-go's -globalreassign)
  -toplevelcontrol     allow if/for/while at top level
  -while               allow while loops
  -set=false           no set builtin (sets are standard; -set alone is accepted)
  -test                provide the test module (assert, catch, matches, freeze) and run
                       starlark-go testdata style: chunks between "---" lines, each in its
                       own module; a chunk with a '### "regexp"' line must fail with a
                       matching error; "# option:NAME" lines turn dialect options on
  -batch               run in a process of its own, not in the warm Starlark server
                       (also BRAMBLE_STARLARK_SERVER=0; docs/speed.md)
  -h, -help            this text
`;

export interface StarlarkOptions {
  dialect: Dialect;
  program?: string;
  file?: string;
  test: boolean;
}

/** Parse `bramble starlark`'s arguments; a string is a usage error. */
export function parseStarlarkArgs(argv: string[]): StarlarkOptions | string {
  const d = { ...DEFAULT_DIALECT };
  const o: StarlarkOptions = { dialect: d, test: false };
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      files.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-") {
      files.push(a);
      continue;
    }
    const m = /^--?([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) return `unknown option ${a}`;
    const name = m[1].replace(/-/g, "");
    let on = true;
    if (m[2] !== undefined) {
      if (!/^(true|false|1|0)$/.test(m[2])) return `invalid value ${JSON.stringify(m[2])} for option ${a.split("=")[0]}`;
      on = m[2] === "true" || m[2] === "1";
    }
    switch (name) {
      case "c":
        if (m[2] !== undefined) {
          o.program = m[2];
          break;
        }
        if (i + 1 >= argv.length) return "option -c needs a program";
        o.program = argv[++i];
        break;
      case "recursion":
        d.recursion = on;
        d.while ||= on;
        break;
      case "globalreassign":
        d.globalReassign = on;
        d.topLevelControl ||= on;
        d.while ||= on;
        break;
      case "toplevelcontrol":
        d.topLevelControl = on;
        break;
      case "while":
        d.while = on;
        break;
      case "set":
        d.set = on;
        break;
      case "test":
        o.test = on;
        break;
      case "batch":
        // bin/bramble's client reads it: run in a process of its own, not in the Starlark server
        break;
      case "h":
      case "help":
        return "";
      default:
        return `unknown option ${a}`;
    }
  }
  if (o.program === undefined && files.length !== 1)
    return files.length === 0 ? "want a Starlark file name or -c PROGRAM" : "want at most one Starlark file name";
  if (o.program !== undefined && files.length > 0) return "want a Starlark file name or -c PROGRAM, not both";
  o.file = files[0];
  return o;
}

/**
 * load() for plain Starlark: a module is a file named relative to the directory of the file
 * that loads it (or the working directory, for -c), run once per path with the same dialect
 * and predeclared names; a module that loads itself, directly or not, is "cycle in load graph".
 */
export function fileLoader(dialect: Dialect, predeclared: Map<string, Value>, cwd?: string, budget?: Budget): LoadFn {
  const cache = new Map<string, Map<string, Value> | null>();
  const load = (thread: Thread, module: string): Map<string, Value> => {
    // Each module runs on a thread named "exec FILE", as in starlark-go's command.
    const from = thread.name.startsWith("exec ") ? thread.name.slice(5) : undefined;
    const base = from && from !== "cmdline" ? dirname(from) : ".";
    const path = isAbsolute(module) ? module : cwd === undefined ? resolve(base, module) : resolve(cwd, base, module);
    const key = path;
    if (cache.has(key)) {
      const g = cache.get(key);
      if (g === null) throw new StarlarkError("cycle in load graph");
      return g!;
    }
    cache.set(key, null);
    let src: string;
    try {
      src = readFileSync(path, "utf8");
    } catch (e) {
      cache.delete(key);
      throw new StarlarkError(`open ${module}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message}`);
    }
    const name = from && !isAbsolute(module) ? displayPath(from, module) : module;
    try {
      const g = execFile(budgeted(new Thread(`exec ${name}`, thread.print), budget), name, src, predeclared, { dialect, load });
      cache.set(key, g);
      return g;
    } catch (e) {
      cache.delete(key);
      throw e;
    }
  };
  return load;
}

/** The thread, drawing on `budget` when there is one (its first step takes a slice). */
function budgeted(thread: Thread, budget: Budget | undefined): Thread {
  if (budget) {
    thread.budget = budget;
    thread.maxSteps = 0;
  }
  return thread;
}

/** Where `bramble starlark` runs when not in this process's working directory, and how it is stopped. */
export interface StarlarkRunPlace {
  /** the directory relative file names are read from (the client's, in the Starlark server) */
  cwd?: string;
  /** true once the run must stop (its client went away) */
  cancelled?: () => boolean;
}

/** The name a loaded file gets in positions: its path as written, joined to the loader's directory. */
function displayPath(from: string, module: string): string {
  const dir = dirname(from);
  return dir === "." ? module : `${dir}/${module}`;
}

/**
 * `bramble starlark ARGS...`: returns the exit status. `toFds`: out and err write to file
 * descriptors 1 and 2 (only then may -recursion hand a program to a worker, which writes
 * there itself); a writer with a flush() is flushed before that.
 */
export function starlarkMain(
  argv: string[],
  out: Writable = process.stdout,
  err: Writable = process.stderr,
  toFds = out === process.stdout && err === process.stderr,
  place: StarlarkRunPlace = {},
): number {
  const o = parseStarlarkArgs(argv);
  if (typeof o === "string") {
    if (o === "") {
      out.write(STARLARK_USAGE);
      return 0;
    }
    err.write(`bramble starlark: ${o}\n${STARLARK_USAGE}`);
    return 2;
  }
  let src: string;
  const name = o.program !== undefined ? "cmdline" : o.file!;
  if (o.program !== undefined) src = o.program;
  else {
    try {
      src = readFileSync(place.cwd === undefined ? o.file! : resolve(place.cwd, o.file!), "utf8");
    } catch (e) {
      err.write(`${o.file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message}\n`);
      return 1;
    }
  }
  // With -recursion, a program that recurses deeper than JavaScript's stack allows runs again
  // in a worker with a large one (runDeep); a -test file goes there at once (its chunks catch
  // their errors), any other program runs here first, and only a JavaScript stack overflow
  // sends it there. Starlark is deterministic and its only effect is its output, so the
  // worker's run prints the same text: it skips what this run wrote already.
  const deep = o.dialect.recursion && toFds;
  const flush = () => (out as { flush?: () => void }).flush?.();
  if (deep && o.test) {
    flush();
    const c = runDeep(argv, 0);
    if (c !== undefined) return c;
  }
  let written = 0;
  const print = (msg: string) => {
    out.write(msg + "\n");
    written += msg.length + 1;
  };
  const predeclared = standardPredeclared();
  if (o.test) {
    const dialect = fileOptions(src, o.dialect);
    const results = runChunks(name, src, predeclared, { dialect, load: fileLoader(dialect, new Map([...predeclared]), place.cwd) }, print);
    let failed = 0;
    for (const r of results)
      if (!r.ok) {
        failed++;
        err.write(`${name}:${r.line}: chunk failed:\n${r.message}\n`);
      }
    out.write(`${results.length - failed} passed, ${failed} failed\n`);
    return failed > 0 ? 1 : 0;
  }
  // starlark-go has no call depth limit but Go's stack; ours is JavaScript's stack (Thread's
  // maxDepth), whose overflow is reported as a Starlark "stack overflow" error.
  const budget = place.cancelled ? makeBudget({ maxSteps: Infinity, timeoutMs: Infinity, cancelled: place.cancelled }) : undefined;
  const thread = budgeted(new Thread(`exec ${name}`, print), budget);
  try {
    execFile(thread, name, src, predeclared, { dialect: o.dialect, load: fileLoader(o.dialect, predeclared, place.cwd, budget) });
    return 0;
  } catch (e) {
    if (deep && e instanceof StarlarkError && e.overflow) {
      flush();
      const c = runDeep(argv, written);
      if (c !== undefined) return c;
    }
    err.write(formatError(e) + "\n");
    return 1;
  }
}

let deepEntry: string | undefined;
/**
 * The bundle -recursion's worker loads, when it is not this module's own: the CLI's bundle is
 * split, and the chunk this module lands in exports no starlarkMain (core/cli/main.ts).
 */
export function setDeepEntry(url: string): void {
  deepEntry = url;
}

/**
 * With -recursion, a program may recurse as deep as starlark-go's (Go's stack grows to 1 GB):
 * the command runs in a worker thread with a 256 MB stack (about 100 times JavaScript's
 * default) that loads this same bundle and writes to file descriptors 1 and 2 itself, less
 * the first `skip` characters of its output (printed by a first run here), while this thread
 * waits. Only for a bundle that exports starlarkMain (dist/fast.mjs); otherwise,
 * and under tests, undefined: run here.
 */
function runDeep(argv: string[], skip: number): number | undefined {
  const url = deepEntry ?? import.meta.url;
  if (!/\.[cm]?js$/.test(url)) return undefined;
  const { Worker, isMainThread } = nodeBuiltin<typeof import("node:worker_threads")>("node:worker_threads");
  if (!isMainThread) return undefined;
  const status = new Int32Array(new SharedArrayBuffer(4));
  const code = `
    const { workerData } = require("node:worker_threads");
    const fs = require("node:fs");
    const done = (c) => { Atomics.store(workerData.status, 0, c + 1); Atomics.notify(workerData.status, 0); };
    import(workerData.url).then((m) => {
      let skip = workerData.skip;
      const out = {
        write: (s) => {
          if (skip >= s.length) { skip -= s.length; return; }
          if (skip > 0) { s = s.slice(skip); skip = 0; }
          fs.writeSync(1, s);
        },
      }, err = { write: (s) => fs.writeSync(2, s) };
      done(m.starlarkMain ? m.starlarkMain(workerData.argv, out, err) : -1);
    }, () => done(-1));`;
  const w = new Worker(code, { eval: true, workerData: { url, argv, status, skip }, resourceLimits: { stackSizeMb: 256 } });
  w.unref();
  Atomics.wait(status, 0, 0);
  const c = status[0] - 1;
  return c < 0 ? undefined : c;
}

/** Run a plain Starlark file with the default dialect; print() goes to out. Returns the exit code. */
export function runFile(path: string, out: Writable = process.stdout, err: Writable = process.stderr): number {
  return starlarkMain([path], out, err);
}

export { testPredeclared };

/** Does this chunk need more lines (an open bracket, a trailing colon or backslash, or a block)? */
export function needsMore(chunk: string): boolean {
  const lines = chunk.split("\n");
  const last = lines[lines.length - 1];
  let depth = 0,
    q: string | null = null,
    triple = false;
  for (let i = 0; i < chunk.length; i++) {
    const c = chunk[i];
    if (q) {
      if (c === "\\") {
        i++;
        continue;
      }
      if (triple ? chunk.startsWith(q.repeat(3), i) : c === q) {
        if (triple) i += 2;
        q = null;
      }
      continue;
    }
    if (c === "#") {
      while (i < chunk.length && chunk[i] !== "\n") i++;
      continue;
    }
    if (c === '"' || c === "'") {
      triple = chunk.startsWith(c.repeat(3), i);
      q = c;
      if (triple) i += 2;
      continue;
    }
    if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) depth--;
  }
  if (q && triple) return true;
  if (depth > 0) return true;
  if (/\\$/.test(last)) return true;
  if (lines.length > 1) return last.trim() !== ""; // inside a block: end with a blank line
  return /:\s*(#.*)?$/.test(last);
}
/** An interactive prompt with line editing, history and multi-line input. */
export async function repl(input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout): Promise<void> {
  const readline = nodeBuiltin<typeof import("node:readline")>("node:readline");
  const rl = readline.createInterface({ input, output, terminal: (output as { isTTY?: boolean }).isTTY === true, historySize: 1000, prompt: ">>> " });
  const thread = new Thread("repl", (msg) => {
    output.write(msg + "\n");
  });
  let env = standardPredeclared();
  let buf: string[] = [];
  let n = 0;
  rl.prompt();
  for await (const line of rl) {
    buf.push(line);
    const chunk = buf.join("\n");
    if (needsMore(chunk)) {
      rl.setPrompt("... ");
      rl.prompt();
      continue;
    }
    buf = [];
    rl.setPrompt(">>> ");
    if (chunk.trim() !== "") {
      const echo: { value: Value | undefined } = { value: undefined };
      try {
        const globals = execFile(thread, `<stdin:${++n}>`, chunk + "\n", env, { dialect: PERMISSIVE_DIALECT, noFreeze: true, echo });
        env = new Map([...env, ...globals]);
        if (echo.value !== undefined && echo.value !== null) output.write(repr(echo.value) + "\n");
      } catch (e) {
        output.write(formatError(e) + "\n");
      }
    }
    rl.prompt();
  }
  rl.close();
}
