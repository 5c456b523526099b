// The launcher: one long-lived `store-view-helper --serve` per process that starts the
// sandboxes of builds (store-view-helper.c). Node's spawn forks the whole Node process: at
// every build that cost milliseconds of the event loop (2.3 ms on an idle machine, 15 at load
// 18) and grew with the heap over a long run. The launcher is a few hundred kilobytes: it forks
// in a fraction of that, and Node only writes a request and reads frames back.
//
// What a run sees is what runLogged (run.ts) gives: output lines in the order written (fd 1
// and 2 are one pipe), the exit code or signal, cancellation and timeouts killing the whole
// process group (each child leads a session of its own, before its pid is reported), and nothing left of the group once
// it has ended. If the launcher dies, the runs in flight fail and the next run starts a new one.
// A build may be handed to a spare the launcher prepared for its cgroup (prepareSpare).
import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:os";
import type { Readable } from "node:stream";
import { LineSplitter, type RunResult } from "./run.js";

interface Pending {
  log: LineSplitter;
  pid?: number;
  onStart: (pid: number) => void;
  onExit: (status: number) => void;
  onFail: (error: Error) => void;
}

const SIGNALS = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

class Launcher {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buf: Buffer = Buffer.alloc(0);
  dead = false;

  constructor(helper: string) {
    this.child = spawn(helper, ["--serve"], { stdio: ["pipe", "pipe", "inherit"], env: {} });
    this.child.stdout!.on("data", (d: Buffer) => this.read(d));
    this.child.stdin!.on("error", () => {});
    const gone = (why: string) => {
      if (this.dead) return;
      this.dead = true;
      for (const p of this.pending.values()) p.onFail(new Error(`the sandbox launcher ${why}`));
      this.pending.clear();
    };
    this.child.on("error", (e) => gone(`could not start: ${e.message}`));
    this.child.on("exit", (code, signal) => gone(`exited (${signal ?? code})`));
    this.idle();
  }

  /** A launcher with nothing running keeps no process alive. */
  private idle(): void {
    if (this.pending.size) return;
    this.child.unref();
    (this.child.stdout as Readable & { unref?: () => void }).unref?.();
    (this.child.stdin as unknown as { unref?: () => void }).unref?.();
  }

  private busy(): void {
    this.child.ref();
    (this.child.stdout as Readable & { ref?: () => void }).ref?.();
    (this.child.stdin as unknown as { ref?: () => void }).ref?.();
  }

  start(args: string[], p: Pending): void {
    const id = this.nextId++;
    this.pending.set(id, p);
    this.busy();
    this.send(id, args);
  }

  /** A request that is answered by no frame (--prepare, --drop-spares). */
  request(args: string[]): void {
    this.send(this.nextId++, args);
  }

  private send(id: number, args: string[]): void {
    const body = Buffer.concat([Buffer.alloc(4), ...args.map((a) => Buffer.from(`${a}\0`))]);
    body.writeUInt32LE(id, 0);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length, 0);
    this.child.stdin!.write(Buffer.concat([head, body]));
  }

  private read(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let off = 0;
    while (this.buf.length - off >= 9) {
      const len = this.buf.readUInt32LE(off + 5);
      if (this.buf.length - off - 9 < len) break;
      const type = String.fromCharCode(this.buf[off]!);
      const id = this.buf.readUInt32LE(off + 1);
      const data = this.buf.subarray(off + 9, off + 9 + len);
      off += 9 + len;
      const p = this.pending.get(id);
      if (!p) continue;
      if (type === "S") p.onStart(data.readUInt32LE(0));
      else if (type === "O") p.log.push(data);
      else if (type === "F" || type === "X") {
        this.pending.delete(id);
        if (type === "F") p.onFail(new Error(`the sandbox launcher could not start it: ${data.toString()}`));
        else p.onExit(data.readUInt32LE(0));
        this.idle();
      }
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
  }
}

let launcher: Launcher | undefined;

/** Spares (below) unless BRAMBLE_LAUNCHER_SPARES=0 or BRAMBLE_LAUNCHER=0. */
export function sparesEnabled(): boolean {
  return process.env.BRAMBLE_LAUNCHER_SPARES !== "0" && process.env.BRAMBLE_LAUNCHER !== "0";
}

/**
 * Have the launcher prepare a spare for the next build, whose pids cgroup is `procs`
 * (sandbox.ts withPidsLimit picks it): a child that has joined that cgroup and, with `netns`,
 * made its network namespace, and waits. The build whose request names `procs` (and asks
 * --netns the same) is handed to it; no other ever is. On cgroup v1, joining a cgroup waits
 * for an RCU grace period unless another process joined one shortly before: 7-15 ms for a build
 * that does not follow another closely, now spent while the previous build runs.
 */
export function prepareSpare(helper: string, procs: string, netns: boolean): void {
  if (!launcher || launcher.dead) launcher = new Launcher(helper);
  launcher.request(["--prepare", "--cgroup", procs, ...(netns ? ["--netns"] : [])]);
}

/** Kill the launcher's spares (engine.close(): nothing of a closed engine keeps running). */
export function dropSpares(): void {
  if (launcher && !launcher.dead) launcher.request(["--drop-spares"]);
}

/**
 * Run the compiled helper with `args` (its options and the command, as on its command line,
 * without the program) through the launcher, as runLogged runs an argv whose own fd 2 is its
 * fd 1 (`stderrMerged`).
 */
export function launch(helper: string, args: string[], opts: { log: (line: string) => void; signal?: AbortSignal; timeoutMs?: number }): Promise<RunResult> {
  if (!launcher || launcher.dead) launcher = new Launcher(helper);
  const l = launcher;
  return new Promise((resolve, reject) => {
    let cancelled = false;
    let timedOut = false;
    let pid: number | undefined;
    const killGroup = () => {
      try {
        if (pid) process.kill(-pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    };
    const onAbort = () => {
      cancelled = true;
      killGroup();
    };
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          killGroup();
        }, opts.timeoutMs)
      : undefined;
    const done = () => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    };
    const log = new LineSplitter(opts.log);
    l.start(args, {
      log,
      onStart: (p) => {
        pid = p;
        if (opts.signal?.aborted) onAbort();
        // A timeout that fired before the pid was known killed nothing: kill now.
        else if (timedOut) killGroup();
      },
      onExit: (status) => {
        done();
        log.end();
        // Anything left in the group (a daemonized grandchild) goes too.
        killGroup();
        const exited = (status & 0x7f) === 0;
        resolve({
          exitCode: exited ? (status >> 8) & 0xff : null,
          signal: exited ? null : (SIGNALS.get(status & 0x7f) ?? null),
          cancelled,
          timedOut,
        });
      },
      onFail: (e) => {
        done();
        killGroup();
        reject(e);
      },
    });
    opts.signal?.addEventListener("abort", onAbort, { once: true });
  });
}
