// Running a process tree with line-buffered output, cancellation and a timeout.
import { spawn, type ChildProcess } from "node:child_process";
import { StringDecoder } from "node:string_decoder";

/**
 * Splits a byte stream into lines; a partial last line is flushed at the end. Bytes are
 * decoded as UTF-8 by a StringDecoder, which keeps a character split across two chunks
 * whole (chunk.toString() made two U+FFFD of it).
 */
export class LineSplitter {
  private rest = "";
  private readonly decoder = new StringDecoder("utf8");
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: Buffer | string): void {
    const text = this.rest + (typeof chunk === "string" ? chunk : this.decoder.write(chunk));
    const lines = text.split("\n");
    this.rest = lines.pop()!;
    for (const l of lines) this.onLine(l.endsWith("\r") ? l.slice(0, -1) : l);
    // A builder printing one enormous line must not grow memory without bound.
    if (this.rest.length > 1 << 16) {
      this.onLine(this.rest);
      this.rest = "";
    }
  }
  end(): void {
    this.rest += this.decoder.end();
    if (this.rest) this.onLine(this.rest);
    this.rest = "";
  }
}

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  cancelled: boolean;
  timedOut: boolean;
}

/**
 * Run argv in its own process group, feeding its output lines (stdout and stderr as one
 * stream, in the order written) to `log`. On abort
 * or timeout the whole group is killed with SIGKILL.
 */
export function runLogged(
  argv: string[],
  opts: {
    env?: Record<string, string>;
    cwd?: string;
    log: (line: string) => void;
    signal?: AbortSignal;
    timeoutMs?: number;
    /** pipes given to the child as fds 3, 4, ... (bwrap's --info-fd and --block-fd) */
    extraFds?: number;
    /** called once the child is spawned (to set up its network, say) */
    onSpawn?: (child: ChildProcess) => void;
    /** argv points its own fd 2 at fd 1 (the sandbox's helper does): no shell in between */
    stderrMerged?: boolean;
  },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // stdout and stderr share one pipe (sh points fd 2 at fd 1, then execs argv): the log
    // keeps the order the builder wrote in. Two pipes read separately lose it.
    const [cmd, ...args] = opts.stderrMerged ? argv : ["/bin/sh", "-c", 'exec "$@" 2>&1', "sh", ...argv];
    const child = spawn(cmd!, args, {
      env: opts.env ?? {},
      cwd: opts.cwd,
      stdio: ["ignore", "pipe", opts.stderrMerged ? "ignore" : "pipe", ...Array<"pipe">(opts.extraFds ?? 0).fill("pipe")],
      detached: true,
    });
    opts.onSpawn?.(child);
    let cancelled = false;
    let timedOut = false;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    };
    const onAbort = () => {
      cancelled = true;
      killGroup();
    };
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          killGroup();
        }, opts.timeoutMs)
      : undefined;
    const out = new LineSplitter(opts.log);
    const err = new LineSplitter(opts.log);
    child.stdout!.on("data", (c: Buffer) => out.push(c));
    child.stderr?.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      reject(e);
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      out.end();
      err.end();
      // Anything left in the group (a daemonized grandchild) goes too.
      killGroup();
      resolve({ exitCode: code, signal, cancelled, timedOut });
    });
  });
}
