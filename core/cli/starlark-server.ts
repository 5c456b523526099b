// The Starlark server: a warm process that runs `bramble starlark` for bin/bramble's client
// (core/cli/starlark-client.c), as Bazel's server runs its client's commands. A node process
// spends 30 ms starting and a cold interpreter as long again compiling itself and growing its
// heap before a program's first line runs, where python3 starts in 15: the server has done
// all that once. docs/speed.md "The Starlark server" says why and what it costs.
//
// The client connects to a socket named by the bundle it runs (a rebuilt bundle has a server
// of its own) in a directory only its user may enter, and sends one request frame: protocol
// "2", the working directory, flags ("t": its standard output is a terminal), where it stands
// (placeOf) and the arguments after `starlark`, separated by NUL bytes. The server answers with frames: ACCEPTED at
// once (a client that hears nothing in 3 s takes the server for stopped or hung and runs the
// program itself), then standard output, standard error and the exit code; or instead "run it
// yourself" (BATCH: the worker is busy, or the options need a process of their own), after
// which the client runs the batch path. A
// client that goes away (Ctrl-C, a closed pipe) cancels its run. The program runs in a worker
// thread (the main thread stays free to see the client go), reused run after run.
import type { Socket } from "node:net";
import { dirname, join, resolve } from "node:path";
import { forgetRunCaches, nodeBuiltin, parseStarlarkArgs, starlarkMain } from "../starlark/cli.js";
import { HeldOutput, type Sink } from "./fd-output.js";

/** bramble-fast.cjs's argument that makes it the server: `__starlark-server SOCKET`. */
export const STARLARK_SERVER_VERB = "__starlark-server";

/** Frame tags (one byte, then the payload's length as 4 bytes little-endian). */
const FRAME = { request: 0x52, stdout: 1, stderr: 2, exit: 3, batch: 4, accepted: 5 } as const;

/** Bytes handed to the socket and not yet written before the worker waits (a slow reader). */
const IN_FLIGHT_LIMIT = 4 << 20;
/** A worker whose heap has grown past this after a run is replaced by a fresh one. */
const RECYCLE_HEAP_BYTES = 512 << 20;
/**
 * A worker whose heap is larger than this a minute after its last run (a tenth of the idle time,
 * when that is shorter) is replaced too: V8 keeps
 * the heap a large program grew (420 MB after a 20 MB file), and an idle server should not hold
 * it for its ten minutes. A fresh worker's is about 10 MB.
 */
const IDLE_HEAP_BYTES = 64 << 20;

type NodeModules = {
  net: typeof import("node:net");
  fs: typeof import("node:fs");
  worker: typeof import("node:worker_threads");
  v8: typeof import("node:v8");
};
/** (the batch path shares this bundle: nothing of the server's is loaded before it serves) */
function builtin<K extends keyof NodeModules>(id: K): NodeModules[K] {
  return nodeBuiltin<NodeModules[K]>(`node:${id === "worker" ? "worker_threads" : id}`);
}

function frame(tag: number, payload: Buffer): Buffer {
  const b = Buffer.allocUnsafe(5 + payload.length);
  b[0] = tag;
  b.writeUInt32LE(payload.length, 1);
  payload.copy(b, 5);
  return b;
}

/** Decodes UTF-8, throwing at bytes that are not. */
const strictUTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The request's fields, or a string saying what is wrong with it. A working directory or an
 * argument that is not UTF-8 (a directory named in Latin-1) would come out of decoding as
 * another name, which the server would not find: a process of its own, in that directory,
 * reads its file there.
 */
function parseRequest(payload: Buffer): { cwd: string; terminal: boolean; place: string; argv: string[] } | string {
  let text: string;
  try {
    text = strictUTF8.decode(payload);
  } catch {
    return "not UTF-8";
  }
  const parts = text.split("\0");
  if (parts[0] !== "2") return `protocol ${JSON.stringify(parts[0])} (want "2")`;
  if (parts.length < 4 || !parts[1]!.startsWith("/")) return "no working directory";
  return { cwd: parts[1]!, terminal: parts[2] === "t", place: parts[3]!, argv: parts.slice(4) };
}

/**
 * Where a process stands, as the client says it of itself: its mount namespace, and the
 * device and inode of / and of `cwd`. Another value than the client's (a client in a
 * container, a chroot or another mount namespace that shares the socket's directory, or a
 * directory renamed since the client named it) means the server would read other files by
 * the same names: that client runs the program itself.
 */
function placeOf(cwd: string): string {
  const fs = builtin("fs");
  let ns = "";
  try {
    ns = fs.readlinkSync("/proc/self/ns/mnt");
  } catch {
    /* no /proc: "" as the client's */
  }
  const id = (path: string) => {
    try {
      const st = fs.statSync(path, { bigint: true });
      return `${st.dev}:${st.ino}`;
    } catch {
      return "unseen";
    }
  };
  return `${ns} ${id("/")} ${id(cwd)}`;
}

/**
 * Does this run belong in the server? Not -test's chunks (each catches its errors, and they
 * have no budget to cancel them by), and not a file that is not a plain file: /dev/stdin,
 * /dev/fd/63 of `<(…)`, a pipe are the client's, and the server would read its own. Those run
 * in a process of their own.
 */
function servable(argv: string[], cwd: string): boolean {
  const o = parseStarlarkArgs(argv);
  if (typeof o === "string") return true;
  if (o.test) return false;
  if (o.file === undefined) return true;
  const fs = builtin("fs");
  const path = resolve(cwd, o.file);
  if (/^\/(dev|proc)\//.test(path)) return false;
  try {
    return fs.statSync(fs.realpathSync(path)).isFile();
  } catch {
    // Nothing at that name says "no such file" here as it would there; a link that leads
    // nowhere here may lead somewhere there (a /dev/fd/N of the client's).
    try {
      fs.lstatSync(path);
      return false;
    } catch {
      return true;
    }
  }
}

/** Messages from the worker: output to send, or the run's end. */
type WorkerMessage = { t: "out" | "err"; s: string } | { t: "done"; code: number };
/** A run the main thread hands to the worker. */
interface RunRequest {
  argv: string[];
  cwd: string;
  terminal: boolean;
  /** Int32Array over a SharedArrayBuffer: [0] 1 once cancelled; [1] bytes the socket has taken (mod 2^31) */
  shared: Int32Array;
}

/** Listen on `socketPath` until idle for BRAMBLE_STARLARK_SERVER_IDLE seconds (600) or the bundle changes. */
export function serveStarlark(socketPath: string): void {
  const net = builtin("net");
  const fs = builtin("fs");
  const { Worker } = builtin("worker");
  const bundle = join(dirname(process.argv[1]!), "../dist/fast.cjs");
  const identity = () => {
    const st = fs.statSync(bundle, { bigint: true });
    return `${st.ino}-${st.size}-${st.mtimeNs}`;
  };
  const bundleId = identity();
  const idleMs = Math.max(1, Number(process.env.BRAMBLE_STARLARK_SERVER_IDLE ?? 600) || 600) * 1000;

  let busy = false;
  /** Why each worker that has stopped stopped. */
  const stopped = new WeakMap<import("node:worker_threads").Worker, string>();
  const newWorker = (): import("node:worker_threads").Worker => {
    const w = new Worker(`require(${JSON.stringify(bundle)}).starlarkServerWorker()`, {
      eval: true,
      stdout: false,
      stderr: false,
      // as deep as -recursion's worker in a process of its own (core/starlark/cli.ts runDeep)
      resourceLimits: { stackSizeMb: 256 },
    });
    w.unref();
    // A worker that dies (out of memory, or an error no run caught) emits "error" before
    // "exit"; with no listener node throws it in the main thread, which would end the server
    // and every run in it. The run's onExit tells its client why; a worker that died between
    // runs (its bundle would not load) is replaced when the next run comes.
    w.on("error", (e: Error & { code?: string }) => {
      stopped.set(w, e.code === "ERR_WORKER_OUT_OF_MEMORY" ? "out of memory" : e.message);
    });
    w.once("exit", () => {
      if (!stopped.has(w)) stopped.set(w, "exited");
    });
    // Asked after each run, a worker says how large its heap is; grown too far, a new one replaces it.
    w.on("message", (m: { t?: string; used?: number; total?: number }) => {
      if (m.t !== "heap") return;
      heapOf.set(w, m.total!);
      if (m.used! > RECYCLE_HEAP_BYTES) recycle(w);
    });
    return w;
  };
  const heapOf = new WeakMap<import("node:worker_threads").Worker, number>();
  /** Replace `w`, the worker, by a fresh one, unless a run is using it. */
  const recycle = (w: import("node:worker_threads").Worker) => {
    if (busy || worker !== w) return;
    worker = newWorker();
    void w.terminate();
  };
  let worker = newWorker();
  const shrink = setTimeout(
    () => {
      if ((heapOf.get(worker) ?? 0) > IDLE_HEAP_BYTES) recycle(worker);
    },
    Math.min(60_000, idleMs / 10),
  ); // a minute, or a tenth of a shorter idle time
  shrink.unref();

  const server = net.createServer({ allowHalfOpen: false }, (sock) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < 5) return;
      const len = got.readUInt32LE(1);
      if (got[0] !== FRAME.request || len > 1 << 20) return void sock.destroy();
      if (got.length < 5 + len) return;
      sock.off("data", onData);
      const req = parseRequest(got.subarray(5, 5 + len));
      if (typeof req === "string") return void sock.end(frame(FRAME.batch, Buffer.from(req)));
      if (busy) return void sock.end(frame(FRAME.batch, Buffer.from("busy")));
      if (req.place !== placeOf(req.cwd)) return void sock.end(frame(FRAME.batch, Buffer.from("another place")));
      if (!servable(req.argv, req.cwd)) return void sock.end(frame(FRAME.batch, Buffer.from("not served")));
      run(sock, req);
    };
    sock.on("data", onData);
    sock.on("error", () => {});
  });

  function run(sock: Socket, req: { cwd: string; terminal: boolean; argv: string[] }): void {
    busy = true;
    idle.refresh();
    if (stopped.has(worker)) worker = newWorker();
    const w = worker;
    const shared = new Int32Array(new SharedArrayBuffer(8));
    let written = 0;
    let open = true;
    const cancel = () => {
      open = false;
      Atomics.store(shared, 0, 1);
      Atomics.notify(shared, 1);
    };
    sock.on("close", cancel);
    // at once: a client that hears nothing for a while takes the server for stopped or hung
    sock.write(frame(FRAME.accepted, Buffer.alloc(0)));
    const send = (b: Buffer) => {
      if (!open) return;
      sock.write(b, () => {
        written = (written + b.length) | 0;
        Atomics.store(shared, 1, written);
        Atomics.notify(shared, 1);
      });
    };
    const finish = (code: number) => {
      w.off("message", onMessage);
      w.off("exit", onExit);
      sock.off("close", cancel);
      if (open) sock.end(frame(FRAME.exit, Buffer.from(Uint32Array.of(code).buffer)));
      busy = false;
      idle.refresh();
      shrink.refresh();
    };
    const onMessage = (m: WorkerMessage) => {
      if (m.t === "done") {
        finish(m.code);
        w.postMessage({ heapCheck: true });
        return;
      }
      // (the answer to the last run's heap check, when this run came before it: newWorker's)
      if (m.t !== "out" && m.t !== "err") return;
      send(frame(m.t === "out" ? FRAME.stdout : FRAME.stderr, Buffer.from(m.s)));
    };
    // The worker died under the run (out of memory): the client hears why; a fresh worker serves the next.
    const onExit = (code: number) => {
      if (worker === w) worker = newWorker();
      const why = stopped.get(w) ?? `exit ${code}`;
      send(frame(FRAME.stderr, Buffer.from(`bramble starlark: the Starlark server's worker stopped (${why})\n`)));
      finish(70);
    };
    w.on("message", onMessage);
    w.once("exit", onExit);
    const request: RunRequest = { argv: req.argv, cwd: req.cwd, terminal: req.terminal, shared };
    w.postMessage(request);
  }

  // Idle too long, or another server's socket (or none) at our path, or a rebuilt bundle: stop.
  const idle = setTimeout(() => stop(), idleMs);
  const check = setInterval(() => {
    try {
      if (identity() !== bundleId) return stop();
      if (fs.statSync(socketPath).ino !== ownIno) return stop(false);
    } catch {
      return stop(false);
    }
  }, 30_000);
  check.unref();
  let ownIno = -1;
  function stop(unlink = true): void {
    if (busy) return void idle.refresh();
    clearInterval(check);
    server.close();
    if (unlink) {
      try {
        if (fs.statSync(socketPath).ino === ownIno) fs.rmSync(socketPath);
      } catch {
        /* gone already */
      }
    }
    void worker.terminate();
    process.exit(0);
  }
  // Bound under another name and renamed into place: a client never connects to a half-made
  // socket, and of two servers started at once the last rename wins (the other stops at its check).
  const tmp = `${socketPath}.${process.pid}`;
  fs.rmSync(tmp, { force: true });
  server.listen(tmp, () => {
    fs.chmodSync(tmp, 0o600);
    // its inode from before the rename: read after it, it may be another server's renamed in since
    ownIno = fs.statSync(tmp).ino;
    fs.renameSync(tmp, socketPath);
  });
  server.on("error", () => process.exit(1));
}

/** The worker thread's side: runs each request it is sent, posting output and the exit code. */
export function starlarkServerWorker(): void {
  const { parentPort } = builtin("worker");
  const v8 = builtin("v8");
  if (!parentPort) throw new Error("starlarkServerWorker runs in a worker thread");
  const port = parentPort;
  port.on("message", (m: RunRequest | { heapCheck: true }) => {
    if ("heapCheck" in m) {
      const h = v8.getHeapStatistics();
      port.postMessage({ t: "heap", used: h.used_heap_size, total: h.total_heap_size });
      return;
    }
    const { shared } = m;
    let posted = 0;
    const cancelled = () => Atomics.load(shared, 0) === 1;
    /** Output to the client; waits while the socket holds too much; a client that went away ends the run. */
    const sink = (t: "out" | "err"): Sink => ({
      write(s: string): void {
        if (cancelled()) throw new ClientGone();
        port.postMessage({ t, s });
        posted = (posted + Buffer.byteLength(s)) | 0;
        for (;;) {
          const taken = Atomics.load(shared, 1);
          if (((posted - taken) | 0) <= IN_FLIGHT_LIMIT) break;
          if (cancelled()) throw new ClientGone();
          Atomics.wait(shared, 1, taken, 100);
        }
      },
    });
    const out = new HeldOutput(sink("out"), m.terminal);
    const err = new HeldOutput(sink("err"), true, out);
    let code: number;
    try {
      code = starlarkMain(m.argv, out, err, false, { cwd: m.cwd, cancelled });
      out.flush();
    } catch (e) {
      if (!(e instanceof ClientGone)) throw e;
      code = -1;
    }
    // what the run's files and format strings left in the interpreter's caches, of no use to the next run
    forgetRunCaches();
    port.postMessage({ t: "done", code });
  });
}

/** Thrown out of a print() whose client went away: the run ends there. */
class ClientGone extends Error {}
