// `bramble starlark` through the warm Starlark server (core/cli/starlark-server.ts, and
// bin/bramble's client core/cli/starlark-client.c): real processes, a real socket. A run the
// server made is told from one the client ran itself by taking node off PATH once the server
// runs: the client can then only succeed through the server.
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repo } from "../helpers/cli.js";

const BIN = join(repo, "bin/bramble");
/** A directory for sockets of this file's own, and the programs. */
const runtime = mkdtempSync(join(tmpdir(), "bramble-sl-run-"));
const work = mkdtempSync(join(tmpdir(), "bramble-sl-work-"));
const sockets = join(runtime, "bramble");
const NO_NODE = "/nonexistent";

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, XDG_RUNTIME_DIR: runtime, ...extra };
}
function starlark(args: string[], opts: { path?: string; cwd?: string; runtimeDir?: string } = {}) {
  const r = spawnSync(BIN, ["starlark", ...args], {
    cwd: opts.cwd ?? work,
    env: env({ ...(opts.path ? { PATH: opts.path } : {}), ...(opts.runtimeDir ? { XDG_RUNTIME_DIR: opts.runtimeDir } : {}) }),
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** The pids of servers listening under `dir` (their command line names the socket). */
function servers(dir = sockets): number[] {
  const pids: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0");
      if (argv[2] === "__starlark-server" && argv[3]?.startsWith(`${dir}/`)) pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
}

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The server runs hello.star again (within seconds: a cancelled run stops at its next budget check). */
async function servedAgain(): Promise<void> {
  let last: ReturnType<typeof starlark> | undefined;
  await until(
    "the server to serve again",
    () => {
      last = starlark(["hello.star"], { path: NO_NODE });
      return last.code === 0;
    },
    10_000,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}: ${JSON.stringify(last)}`);
  });
  expect(last).toMatchObject({ code: 0, stdout: "hello 3\n", stderr: "" });
}

const socketsIn = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => /^starlark-.*\.sock$/.test(f)) : []);

beforeAll(() => {
  const r = spawnSync(process.execPath, [join(repo, "scripts/build.mjs"), "cli"], { cwd: repo, stdio: "inherit" });
  expect(r.status).toBe(0);
  expect(existsSync(join(repo, "dist/starlark-client"))).toBe(true);
  writeFileSync(join(work, "hello.star"), 'print("hello", 1 + 2)\n');
}, 120_000);
afterAll(() => {
  for (const pid of servers()) process.kill(pid, "SIGKILL");
  rmSync(runtime, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe("bramble starlark through the Starlark server", () => {
  it("a first run starts a server and runs the program itself; later runs are the server's", async () => {
    expect(servers()).toEqual([]);
    const first = starlark(["hello.star"]);
    expect(first).toMatchObject({ code: 0, stdout: "hello 3\n", stderr: "" });
    await until("the server's socket", () => socketsIn(sockets).length === 1);
    expect(servers()).toHaveLength(1);
    // the directory and the socket are the user's alone
    expect(statSync(sockets).mode & 0o777).toBe(0o700);
    expect(statSync(join(sockets, socketsIn(sockets)[0]!)).mode & 0o777).toBe(0o600);
    // without node on PATH only the server can run it
    expect(starlark(["hello.star"], { path: NO_NODE })).toMatchObject({ code: 0, stdout: "hello 3\n", stderr: "" });
    expect(starlark(["-c", "print(len('abc'))"], { path: NO_NODE })).toMatchObject({ code: 0, stdout: "3\n" });
  });

  it("reads files and load()s relative to the client's working directory, not the server's", () => {
    const dir = join(work, "proj");
    mkdirSync(join(dir, "lib"), { recursive: true });
    writeFileSync(join(dir, "main.star"), 'load("lib/b.star", "b")\nprint("main", b)\n');
    writeFileSync(join(dir, "lib/b.star"), 'load("c.star", "c")\nb = "b+" + c\n');
    writeFileSync(join(dir, "lib/c.star"), 'c = "c"\n');
    expect(starlark(["main.star"], { path: NO_NODE, cwd: dir })).toMatchObject({ code: 0, stdout: "main b+c\n", stderr: "" });
    expect(starlark(["proj/main.star"], { path: NO_NODE, cwd: work })).toMatchObject({ code: 0, stdout: "main b+c\n" });
    expect(starlark(["nope.star"], { path: NO_NODE, cwd: dir })).toMatchObject({ code: 1, stdout: "", stderr: "nope.star: no such file or directory\n" });
  });

  it("a working directory whose name is not UTF-8 is a process's own, which finds its files", () => {
    const latin1 = Buffer.concat([Buffer.from(join(work, "caf")), Buffer.from([0xe9])]);
    mkdirSync(latin1);
    writeFileSync(Buffer.concat([latin1, Buffer.from("/hello.star")]), 'print("hello", 1 + 2)\n');
    const r = spawnSync("sh", ["-c", `cd "$(printf '%s/caf\\351' "$WORK")" && exec "$BIN" starlark hello.star`], {
      env: env({ WORK: work, BIN }),
      encoding: "utf8",
    });
    expect(r).toMatchObject({ status: 0, stdout: "hello 3\n", stderr: "" });
  });

  it.runIf(process.getuid?.() === 0 && spawnSync("unshare", ["-m", "true"]).status === 0)(
    "a client in another mount namespace, which sees other files by the same names, runs the program itself",
    () => {
      const dir = join(work, "mounted");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "which.star"), 'print("the file the server sees")\n');
      const inside = `mount -t tmpfs none "$DIR" && echo 'print("the file the client sees")' >"$DIR/which.star" && cd "$DIR" && exec "$BIN" starlark which.star`;
      const r = spawnSync("unshare", ["-m", "sh", "-c", inside], { env: env({ DIR: dir, BIN }), encoding: "utf8" });
      expect(r).toMatchObject({ status: 0, stdout: "the file the client sees\n" });
    },
  );

  it("keeps the exit codes, and standard output before the error that follows it", () => {
    writeFileSync(join(work, "fails.star"), 'print("before")\nx = 1 + "a"\n');
    const r = starlark(["fails.star"], { path: NO_NODE });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("before\n");
    expect(r.stderr).toBe(
      'fails.star:2:7: unknown binary op: int + string\nx = 1 + "a"\n      ^\nTraceback (most recent call last):\n  fails.star:2:7: in <toplevel>\n',
    );
    const usage = starlark(["-nosuch", "x.star"], { path: NO_NODE });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^bramble starlark: unknown option -nosuch\nusage: bramble starlark/);
    expect(starlark(["-h"], { path: NO_NODE })).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: bramble starlark \[options\] FILE\n/) });
  });

  it("recurses as deep with -recursion as a process of its own does", () => {
    writeFileSync(join(work, "deep.star"), "def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\nprint(f(100000))\n");
    expect(starlark(["-recursion", "deep.star"], { path: NO_NODE })).toMatchObject({ code: 0, stdout: "100000\n", stderr: "" });
  });

  it("Ctrl-C ends the client by the signal and cancels the run: the server serves the next run at once", async () => {
    writeFileSync(join(work, "spin.star"), 'def spin():\n    while True:\n        pass\nprint("spinning" * 10000)\nspin()\n');
    const child = spawn(BIN, ["starlark", "-while", "spin.star"], { cwd: work, env: env({ PATH: NO_NODE }), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    const ended = new Promise<[number | null, string | null]>((r) => child.once("exit", (code, sig) => r([code, sig])));
    try {
      // more than the 64 KB a pipe's output is held to: it is sent while the program runs
      await until("the first line", () => out === `${"spinning".repeat(10000)}\n`);
    } finally {
      child.kill("SIGINT");
    }
    expect(await ended).toEqual([null, "SIGINT"]);
    // still busy, it would answer "run it yourself", which fails without node
    await servedAgain();
  });

  it("Ctrl-C ends the client while its output waits for a reader that stopped reading", async () => {
    writeFileSync(join(work, "many.star"), 'def main():\n    for i in range(10000000):\n        print("line", i)\nmain()\n');
    const fifo = join(work, "stalled");
    rmSync(fifo, { force: true });
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK); // never read
    const writer = openSync(fifo, "w");
    try {
      const child = spawn(BIN, ["starlark", "many.star"], { cwd: work, env: env({ PATH: NO_NODE }), stdio: ["ignore", writer, "ignore"] });
      const ended = new Promise<[number | null, string | null]>((r) => child.once("exit", (code, sig) => r([code, sig])));
      await new Promise((r) => setTimeout(r, 1000)); // the pipe is full, the client waits in write()
      child.kill("SIGINT");
      const timeout = new Promise((r) => setTimeout(() => r("still running"), 5000));
      const result = await Promise.race([ended, timeout]);
      if (result === "still running") child.kill("SIGKILL");
      expect(result).toEqual([null, "SIGINT"]);
    } finally {
      closeSync(writer);
      closeSync(reader);
    }
    await servedAgain();
  });

  it.runIf(existsSync("/usr/bin/perl"))("waits for standard output left non-blocking, as a process of its own does", async () => {
    writeFileSync(join(work, "mid.star"), 'def main():\n    for i in range(200000):\n        print("line", i)\nmain()\n');
    let want = "";
    for (let i = 0; i < 200000; i++) want += `line ${i}\n`;
    const fifo = join(work, "nonblocking");
    rmSync(fifo, { force: true });
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, "w");
    let got = 0;
    try {
      // (node's spawn makes the descriptors it hands on blocking: perl sets O_NONBLOCK, then runs the client)
      const nonblocking = "use Fcntl; fcntl(STDOUT, F_SETFL, fcntl(STDOUT, F_GETFL, 0) | O_NONBLOCK) or die; exec { $ARGV[0] } @ARGV or die";
      const child = spawn("/usr/bin/perl", ["-e", nonblocking, BIN, "starlark", "mid.star"], {
        cwd: work,
        env: env({ PATH: NO_NODE }),
        stdio: ["ignore", writer, "pipe"],
      });
      let err = "";
      child.stderr!.on("data", (d) => (err += d));
      const ended = new Promise<number | null>((r) => child.once("exit", r));
      closeSync(writer);
      await new Promise((r) => setTimeout(r, 1000)); // the pipe fills: the client's write() says EAGAIN
      const chunk = Buffer.alloc(1 << 16);
      for (const end = Date.now() + 30_000; Date.now() < end; ) {
        let n: number;
        try {
          n = readSync(reader, chunk);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        if (n === 0) break;
        got += n;
      }
      expect({ code: await ended, err, got }).toEqual({ code: 0, err: "", got: Buffer.byteLength(want) });
    } finally {
      closeSync(reader);
    }
  });

  it("a reader that went away ends the client with 0 and cancels the run", async () => {
    writeFileSync(join(work, "many.star"), 'def main():\n    for i in range(10000000):\n        print("line", i)\nmain()\n');
    const r = spawnSync("sh", ["-c", `PATH=${NO_NODE}; ${BIN} starlark many.star | /usr/bin/head -2`], {
      cwd: work,
      env: env(),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.stdout.split("\n").slice(0, 2)).toEqual(["line 0", "line 1"]);
    // (the cancelled run ends at its next print: until then a run would be "busy", a process's own)
    await servedAgain();
    const pipefail = spawnSync("bash", ["-c", `set -o pipefail; PATH=${NO_NODE}; ${BIN} starlark many.star | /usr/bin/head -1 >/dev/null`], {
      cwd: work,
      env: env(),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(pipefail.status).toBe(0);
    await servedAgain();
  });

  it("while the server is busy, a second run runs in a process of its own", async () => {
    writeFileSync(join(work, "spin2.star"), 'def spin():\n    while True:\n        pass\nprint("busy" * 20000)\nspin()\n');
    const busy = spawn(BIN, ["starlark", "-while", "spin2.star"], { cwd: work, env: env({ PATH: NO_NODE }), stdio: ["ignore", "pipe", "ignore"] });
    let out = 0;
    busy.stdout!.on("data", (d: Buffer) => (out += d.length));
    try {
      // the server runs it (its first 80 KB came: more than a pipe's output is held to), however loaded the machine
      await until("the busy run's output", () => out >= 80_001);
      expect(starlark(["hello.star"], { path: NO_NODE })).toMatchObject({ code: 127, stderr: expect.stringMatching(/^bramble: cannot run node/) });
      expect(starlark(["hello.star"])).toMatchObject({ code: 0, stdout: "hello 3\n" });
    } finally {
      busy.kill("SIGINT");
    }
    await servedAgain();
  });

  it("a program on standard input or from a pipe is read by a process of its own, which can see it", () => {
    // (a pipe: node's spawnSync gives its input as a socket, which /dev/stdin cannot open)
    const stdin = spawnSync("bash", ["-c", `echo 'print("from stdin")' | ${BIN} starlark /dev/stdin`], { cwd: work, env: env(), encoding: "utf8" });
    expect(stdin).toMatchObject({ status: 0, stdout: "from stdin\n" });
    const fd = spawnSync("bash", ["-c", `${BIN} starlark <(echo 'print("from a pipe")')`], { cwd: work, env: env(), encoding: "utf8" });
    expect(fd).toMatchObject({ status: 0, stdout: "from a pipe\n" });
    expect(spawnSync("bash", ["-c", `echo 'print(1)' | PATH=${NO_NODE} ${BIN} starlark /dev/stdin`], { cwd: work, env: env() }).status).toBe(127);
  });

  it("-batch and BRAMBLE_STARLARK_SERVER=0 run in a process of their own; -test too", () => {
    expect(starlark(["-batch", "hello.star"], { path: NO_NODE })).toMatchObject({ code: 127 });
    expect(starlark(["-batch", "hello.star"])).toMatchObject({ code: 0, stdout: "hello 3\n" });
    const off = spawnSync(BIN, ["starlark", "hello.star"], { cwd: work, env: env({ PATH: NO_NODE, BRAMBLE_STARLARK_SERVER: "0" }), encoding: "utf8" });
    expect(off.status).toBe(127);
    writeFileSync(join(work, "t.star"), "assert.eq(1, 1)\n");
    expect(starlark(["-test", "t.star"], { path: NO_NODE })).toMatchObject({ code: 127 });
    expect(starlark(["-test", "t.star"])).toMatchObject({ code: 0, stdout: "1 passed, 0 failed\n" });
  });

  it("uses no socket directory that is not the user's alone", () => {
    const open = mkdtempSync(join(tmpdir(), "bramble-sl-open-"));
    mkdirSync(join(open, "bramble"));
    chmodSync(join(open, "bramble"), 0o755);
    try {
      expect(starlark(["hello.star"], { runtimeDir: open })).toMatchObject({ code: 0, stdout: "hello 3\n" });
      expect(starlark(["hello.star"], { runtimeDir: open, path: NO_NODE })).toMatchObject({ code: 127 });
      expect(socketsIn(join(open, "bramble"))).toEqual([]);
      expect(servers(join(open, "bramble"))).toEqual([]);
    } finally {
      rmSync(open, { recursive: true, force: true });
    }
  });

  // (as root, which can run a server as nobody: node must be one nobody may run, in /tmp which nobody may reach)
  const asNobody = { uid: 65534, gid: 65534 };
  it.runIf(process.getuid?.() === 0 && spawnSync(process.execPath, ["-e", "0"], asNobody).status === 0)(
    "talks to no server of another user's, even at its socket's name",
    async () => {
      // another user's server, put where this user's would be (as another user who can write the
      // socket directory's parent could swap it in between the directory's check and connect())
      const fresh = mkdtempSync("/tmp/bramble-sl-peer-");
      chmodSync(fresh, 0o700);
      const theirs = mkdtempSync("/tmp/bramble-sl-theirs-");
      chmodSync(theirs, 0o777);
      let fake: ReturnType<typeof spawn> | undefined;
      try {
        expect(spawnSync(BIN, ["starlark", "hello.star"], { cwd: work, env: env({ XDG_RUNTIME_DIR: fresh }), encoding: "utf8" }).stdout).toBe("hello 3\n");
        await until("the server's socket", () => socketsIn(join(fresh, "bramble")).length === 1);
        const name = join(fresh, "bramble", socketsIn(join(fresh, "bramble"))[0]!);
        for (const pid of servers(join(fresh, "bramble"))) process.kill(pid, "SIGKILL");
        await until("the server to stop", () => servers(join(fresh, "bramble")).length === 0);
        rmSync(name, { force: true });
        const server = `require("node:net").createServer((s) => {
        const out = Buffer.from("not yours\\n"), b = Buffer.alloc(5 + out.length + 9);
        b[0] = 1; b.writeUInt32LE(out.length, 1); out.copy(b, 5);
        b[5 + out.length] = 3; b.writeUInt32LE(4, 6 + out.length);
        s.end(b);
      }).listen(process.argv[1]);`;
        fake = spawn(process.execPath, ["-e", server, join(theirs, "s.sock")], { ...asNobody, stdio: "ignore" });
        await until("their socket", () => existsSync(join(theirs, "s.sock")));
        renameSync(join(theirs, "s.sock"), name);
        const r = spawnSync(BIN, ["starlark", "hello.star"], { cwd: work, env: env({ XDG_RUNTIME_DIR: fresh, PATH: NO_NODE }), encoding: "utf8" });
        expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 127, stdout: "" });
      } finally {
        fake?.kill("SIGKILL");
        for (const pid of servers(join(fresh, "bramble"))) process.kill(pid, "SIGKILL");
        rmSync(fresh, { recursive: true, force: true });
        rmSync(theirs, { recursive: true, force: true });
      }
    },
  );

  it("a server that dies before the program printed anything: the client runs it itself", async () => {
    writeFileSync(join(work, "slow.star"), 'def total():\n    n = 0\n    for i in range(10000000):\n        n += i\n    return n\nprint("sum", total())\n');
    const [pid] = servers();
    const child = spawn(BIN, ["starlark", "slow.star"], { cwd: work, env: env(), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.once("close", r));
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pid!, "SIGKILL");
    const code = await exited;
    expect({ code, out, err }).toEqual({ code: 0, out: "sum 49999995000000\n", err: "" });
  });

  it("a program that runs the worker out of memory: the client hears so, and the server serves the next run", async () => {
    // a server of its own with a small heap (its worker's heap is as large), started as a client starts one
    const small = mkdtempSync(join(tmpdir(), "bramble-sl-oom-"));
    chmodSync(small, 0o700);
    const at = (extra: Record<string, string> = {}) => ({
      cwd: work,
      env: env({ XDG_RUNTIME_DIR: small, ...extra }),
      encoding: "utf8" as const,
      timeout: 60_000,
    });
    try {
      expect(spawnSync(BIN, ["starlark", "hello.star"], at({ NODE_OPTIONS: "--max-old-space-size=64" })).stdout).toBe("hello 3\n");
      await until("the server's socket", () => socketsIn(join(small, "bramble")).length === 1);
      writeFileSync(join(work, "grow.star"), 'def grow():\n    x = []\n    for i in range(1000000000):\n        x.append("abcdefgh" + str(i))\ngrow()\n');
      const r = spawnSync(BIN, ["starlark", "grow.star"], at({ NODE_OPTIONS: "--max-old-space-size=64", PATH: NO_NODE }));
      expect({ code: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({
        code: 70,
        stdout: "",
        stderr: "bramble starlark: the Starlark server's worker stopped (out of memory)\n",
      });
      expect(spawnSync(BIN, ["starlark", "hello.star"], at({ NODE_OPTIONS: "--max-old-space-size=64", PATH: NO_NODE }))).toMatchObject({
        status: 0,
        stdout: "hello 3\n",
      });
      // node's options are the server's: a run with others (here none, the default heap) is not this server's
      expect(spawnSync(BIN, ["starlark", "hello.star"], at({ PATH: NO_NODE }))).toMatchObject({ status: 127 });
    } finally {
      for (const pid of servers(join(small, "bramble"))) process.kill(pid, "SIGKILL");
      rmSync(small, { recursive: true, force: true });
    }
  });

  it("a server a run starts holds none of its file descriptors, nor its working directory", async () => {
    // a lock held on descriptor 9 (flock 9 with 9>LOCKFILE), or a pipe whose reader waits for its end
    const fresh = mkdtempSync(join(tmpdir(), "bramble-sl-fds-"));
    chmodSync(fresh, 0o700);
    const marker = join(work, "held-by-the-caller");
    const fd = openSync(marker, "w");
    try {
      const r = spawnSync(BIN, ["starlark", "hello.star"], {
        cwd: work,
        env: env({ XDG_RUNTIME_DIR: fresh }),
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe", fd],
      });
      expect(r.stdout).toBe("hello 3\n");
      await until("a server", () => servers(join(fresh, "bramble")).length === 1);
      const [pid] = servers(join(fresh, "bramble"));
      const held = readdirSync(`/proc/${pid}/fd`).map((f) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${f}`);
        } catch {
          return "";
        }
      });
      expect(held).not.toContain(marker);
      expect(readlinkSync(`/proc/${pid}/cwd`)).toBe("/");
      await until("the server's socket", () => socketsIn(join(fresh, "bramble")).length === 1);
      expect(spawnSync(BIN, ["starlark", "hello.star"], { cwd: work, env: env({ XDG_RUNTIME_DIR: fresh, PATH: NO_NODE }), encoding: "utf8" }).stdout).toBe(
        "hello 3\n",
      );
    } finally {
      closeSync(fd);
      for (const pid of servers(join(fresh, "bramble"))) process.kill(pid, "SIGKILL");
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  it("gives back the memory a large program grew, once idle (a fresh worker)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bramble-sl-shrink-"));
    chmodSync(dir, 0o700);
    const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;
    try {
      // idle 30 s: the worker is replaced a tenth of it (3 s) after a run that left its heap large
      const e = env({ XDG_RUNTIME_DIR: dir, BRAMBLE_STARLARK_SERVER_IDLE: "30" });
      writeFileSync(join(work, "big.star"), 'def main():\n    x = ["item-%d" % i for i in range(3000000)]\n    print(len(x))\nmain()\n');
      expect(spawnSync(BIN, ["starlark", "hello.star"], { cwd: work, env: e, encoding: "utf8" }).stdout).toBe("hello 3\n");
      await until("a server", () => servers(join(dir, "bramble")).length === 1);
      const [pid] = servers(join(dir, "bramble"));
      await until("its socket", () => socketsIn(join(dir, "bramble")).length === 1);
      const big = spawnSync(BIN, ["starlark", "big.star"], { cwd: work, env: { ...e, PATH: NO_NODE }, encoding: "utf8" });
      expect(big).toMatchObject({ status: 0, stdout: "3000000\n" });
      const grown = rss(pid!);
      expect(grown).toBeGreaterThan(200 << 20);
      await until("the memory to be given back", () => rss(pid!) < 120 << 20, 15_000);
      // and it still serves
      expect(spawnSync(BIN, ["starlark", "hello.star"], { cwd: work, env: { ...e, PATH: NO_NODE }, encoding: "utf8" }).stdout).toBe("hello 3\n");
    } finally {
      for (const pid of servers(join(dir, "bramble"))) process.kill(pid, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a server that is stopped (SIGSTOP) does not hang its clients: they run the program themselves", async () => {
    starlark(["hello.star"]); // starts one, if an earlier test's is gone
    await until("a server", () => servers().length === 1 && socketsIn(sockets).length === 1);
    const [pid] = servers();
    process.kill(pid!, "SIGSTOP");
    try {
      const t0 = Date.now();
      expect(starlark(["hello.star"])).toMatchObject({ code: 0, stdout: "hello 3\n", stderr: "" });
      expect(Date.now() - t0).toBeLessThan(30_000);
    } finally {
      process.kill(pid!, "SIGCONT");
    }
    await servedAgain();
  });

  it("stops when idle, and removes its socket", async () => {
    const idle = mkdtempSync(join(tmpdir(), "bramble-sl-idle-"));
    chmodSync(idle, 0o700);
    try {
      const r = spawnSync(BIN, ["starlark", "hello.star"], {
        cwd: work,
        env: env({ XDG_RUNTIME_DIR: idle, BRAMBLE_STARLARK_SERVER_IDLE: "1" }),
        encoding: "utf8",
      });
      expect(r.stdout).toBe("hello 3\n");
      await until("a server", () => servers(join(idle, "bramble")).length === 1);
      await until("the server to stop", () => servers(join(idle, "bramble")).length === 0, 10_000);
      expect(socketsIn(join(idle, "bramble"))).toEqual([]);
    } finally {
      rmSync(idle, { recursive: true, force: true });
    }
  });
});
