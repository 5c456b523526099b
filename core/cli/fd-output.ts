// How `bramble starlark` writes: to file descriptors 1 and 2 when it runs as its own process,
// or, in the Starlark server (starlark-server.ts), to its client through the server's socket.
import { fstatSync, writeSync } from "node:fs";
import { endQuietly } from "./closed-pipe.js";

/** Where output goes: write(s) must take all of s, or end the run (a reader that went away). */
export interface Sink {
  write(s: string): void;
}

/**
 * Output held as python holds it: what goes to standard output is held until 64 KB or the end
 * (a system call per print() is slow on long outputs); standard error (made with `before`, the
 * standard output) is written at once, after whatever standard output holds, so the two keep
 * their order on one terminal or file. On a terminal (`direct`) standard output is written at
 * once too (as python's is by the line): a long program shows its progress, and what it printed
 * is not lost when it is interrupted.
 */
export class HeldOutput {
  private held = "";
  constructor(
    private readonly sink: Sink,
    private readonly direct: boolean,
    private readonly before?: HeldOutput,
  ) {}
  write(s: string): boolean {
    this.before?.flush();
    this.held += s;
    if (this.direct || this.held.length >= 1 << 16) this.flush();
    return true;
  }
  flush(): void {
    if (this.held === "") return;
    const s = this.held;
    this.held = "";
    this.sink.write(s);
  }
}

/**
 * A file descriptor written with fs.writeSync, as python writes it: the first use of
 * process.stdout makes Node load its stream modules (about 4 ms of a 40 ms `bramble starlark
 * one-line.star`). A reader that went away ends the verb quietly, as core/cli/closed-pipe.ts
 * ends every printing verb.
 */
function fdSink(fd: number): Sink {
  return {
    write(s: string): void {
      const b = Buffer.from(s);
      for (let off = 0; off < b.length; ) {
        try {
          off += writeSync(fd, b, off);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === "EPIPE") endQuietly();
          if (code !== "EAGAIN") throw e;
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); // a non-blocking pipe is full: wait for its reader
        }
      }
    },
  };
}

/** Standard output and error of a process: held output to file descriptors 1 and 2. */
export function processOutputs(): { out: HeldOutput; err: HeldOutput } {
  const out = new HeldOutput(fdSink(1), isTerminal(1));
  return { out, err: new HeldOutput(fdSink(2), true, out) };
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
