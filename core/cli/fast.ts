// The verbs bin/bramble.mjs answers without loading the CLI bundle (dist/cli.mjs pulls in the
// service, the store, the DB and every backend): `--version` and `starlark`. Built as
// dist/fast.mjs; it imports the version and the Starlark interpreter, nothing else.
import { starlarkMain } from "../starlark/cli.js";
// (also for -recursion's worker thread, which loads this bundle: core/starlark/cli.ts runDeep)
export { starlarkMain };
import { VERSION } from "../version.js";
import { fstatSync, writeSync } from "node:fs";
import { endQuietly, quietOnClosedPipe } from "./closed-pipe.js";

/**
 * Output to file descriptor 1 or 2 with fs.writeSync, as python writes it: the first use of
 * process.stdout makes Node load its stream modules (about 4 ms of a 40 ms `bramble starlark
 * one-line.star`). What goes to standard output is held until 64 KB or the end (a system call
 * per print() is slow on long outputs); standard error is written at once, after whatever
 * standard output holds, so the two keep their order on one terminal or file. On a terminal
 * standard output is written at once too (as python's is by the line): a long program shows its
 * progress, and what it printed is not lost when it is interrupted. A reader that went away
 * ends the verb quietly, as core/cli/closed-pipe.ts ends every printing verb.
 */
class FdOutput {
  private held = "";
  private readonly direct: boolean;
  constructor(
    private readonly fd: number,
    private readonly before?: FdOutput,
  ) {
    this.direct = !!before || isTerminal(fd);
  }
  write(s: string): boolean {
    this.before?.flush();
    this.held += s;
    if (this.direct || this.held.length >= 1 << 16) this.flush();
    return true;
  }
  flush(): void {
    if (this.held === "") return;
    const b = Buffer.from(this.held);
    this.held = "";
    for (let off = 0; off < b.length; ) {
      try {
        off += writeSync(this.fd, b, off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EPIPE") endQuietly();
        if (code !== "EAGAIN") throw e;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); // a non-blocking pipe is full: wait for its reader
      }
    }
  }
}

/**
 * Is fd a terminal? A character device other than the memory devices (major 1: /dev/null,
 * /dev/zero, /dev/full), from one fstat: node:tty's isatty would load the stream modules.
 */
function isTerminal(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isCharacterDevice() && ((st.rdev >>> 8) & 0xfff) !== 1;
  } catch {
    return false;
  }
}

/** The exit code, or undefined when `args` (after `bramble`) is not a fast verb. */
export function fastMain(args: string[]): number | undefined {
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
    quietOnClosedPipe(args);
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (args[0] === "starlark") {
    const out = new FdOutput(1);
    try {
      return starlarkMain(args.slice(1), out, new FdOutput(2, out), true);
    } finally {
      out.flush();
    }
  }
  return undefined;
}
