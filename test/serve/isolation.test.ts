// One client's evaluation never stalls another: `bramble serve` (a real process) evaluates in
// worker threads. Two WebSocket clients: one opens a project that loops forever, a FIFO
// module or an unreachable ssh backend; the other is answered meanwhile. The looping
// evaluation is cancelled by its client and stops at the line it was running.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { cli, ensureCli, freshHome, repo } from "../helpers/cli.js";
import { record } from "../reliability/record.js";

const hello = join(repo, "examples/hello");

/** A project whose default() loops forever on line 4. */
function loopProject(): string {
  const dir = mkdtempSync(join(tmpdir(), "bramble-loop-"));
  writeFileSync(join(dir, "bramble.toml"), '[package]\nname = "loop"\nversion = "0.1.0"\n');
  writeFileSync(join(dir, "default.bramble"), "def default():\n    x = 0\n    while True:\n        x += 1\n    return []\n");
  return dir;
}

/** A project with a module that is a FIFO (nobody writes it) and one that is /dev/zero. */
function devicesProject(): string {
  const dir = mkdtempSync(join(tmpdir(), "bramble-fifo-"));
  writeFileSync(join(dir, "bramble.toml"), '[package]\nname = "dev"\nversion = "0.1.0"\n');
  writeFileSync(join(dir, "default.bramble"), 'load("dev/pipe", "x")\ndef default():\n    return []\n');
  writeFileSync(join(dir, "zero.bramble"), 'load("dev/nul", "x")\ndef default():\n    return []\n');
  const made = spawnSync("mkfifo", [join(dir, "pipe.bramble")]);
  if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr}`);
  symlinkSync("/dev/zero", join(dir, "nul.bramble"));
  return dir;
}

interface Served {
  child: ChildProcess;
  port: number;
  token: string;
  stderr: () => string;
}

function serve(project: string, env: Record<string, string> = {}): Promise<Served> {
  ensureCli();
  const child = spawn(process.execPath, [cli, "serve", project, "--port", "0"], {
    env: { ...process.env, BRAMBLE_PATH: freshHome(), NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d));
  return new Promise((resolve, reject) => {
    child.on("exit", (code) => reject(new Error(`bramble serve exited ${code}: ${err}`)));
    child.stdout!.on("data", (d: Buffer) => {
      out += d;
      const m = /http:\/\/\S+:(\d+)\/\?token=([0-9a-f]+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]), token: m[2]!, stderr: () => err });
    });
  });
}

class Client {
  private nextId = 1;
  private pending = new Map<number, (reply: Record<string, unknown>) => void>();
  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const reply = JSON.parse(String(data));
      if (typeof reply.id === "number") this.pending.get(reply.id)?.(reply);
    });
  }
  static open(s: Served): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${s.port}/api`, ["bramble", `bramble-token.${s.token}`]);
      ws.once("open", () => resolve(new Client(ws)));
      ws.once("error", reject);
    });
  }
  call(method: string, params: unknown): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }
}

/** Resolves with which of the promises settled first: its index. */
function first(...ps: Promise<unknown>[]): Promise<number> {
  return Promise.race(ps.map((p, i) => p.then(() => i)));
}

let served: Served[] = [];
const cleanups: (() => void)[] = [];
const after = (f: () => void) => cleanups.push(f);
beforeAll(() => ensureCli());
afterAll(() => {
  for (const s of served) s.child.kill("SIGKILL");
  served = [];
  for (const f of cleanups.splice(0)) f();
});

describe("bramble serve keeps answering while an evaluation runs", () => {
  it("answers a second client while the first evaluates `while True`, and the first cancels its evaluation", async () => {
    const looping = loopProject();
    const s = await serve(hello, { BRAMBLE_EVAL_TIMEOUT: "600" });
    served.push(s);
    const a = await Client.open(s);
    const b = await Client.open(s);
    const endless = a.call("graph.evaluate", { project: looping, moduleArg: ".:default", evalId: "loop-1" });
    // The other client opens and evaluates a project in full while the loop goes on.
    const info = b.call("app.info", {});
    expect(await first(endless, info)).toBe(1);
    const graph = b.call("graph.evaluate", { project: hello, moduleArg: ".:default" });
    expect(await first(endless, graph)).toBe(1);
    expect(((await graph).result as { nodes: { name: string }[] }).nodes.map((n) => n.name)).toContain("hello");
    // A second evaluation of the same project by the second client is not queued behind the first.
    const again = b.call("graph.evaluate", { project: looping, moduleArg: ".:default", evalId: "loop-2" });
    expect(await b.call("evaluation.cancel", { evalId: "loop-2" })).toMatchObject({ result: { cancelled: true } });
    expect(await first(endless, again)).toBe(1);
    // The first client cancels; the error names the file and the line the loop was on.
    expect(await a.call("evaluation.cancel", { evalId: "loop-1" })).toMatchObject({ result: { cancelled: true } });
    const stopped = (await endless).error as { message: string; evalError?: { file?: string; line?: number } };
    expect(stopped.message).toMatch(/evaluation cancelled/);
    expect(stopped.evalError?.file).toBe(join(looping, "default.bramble"));
    // the loop's line, or the def's if the cancel came before the first step
    expect([1, 3, 4]).toContain(stopped.evalError?.line);
    expect(await a.call("evaluation.cancel", { evalId: "loop-1" })).toMatchObject({ result: { cancelled: false } });
    record({
      area: "serve",
      attack: "one client evaluates `while True`; another opens, evaluates and cancels meanwhile",
      tries: 1,
      held: true,
      detail: `the other client answered throughout; cancel stopped the loop at ${stopped.evalError?.file?.split("/").pop()}:${stopped.evalError?.line}`,
    });
  });

  it("names evaluations per connection: the same evalId on two clients are two evaluations, and one cannot cancel the other's", async () => {
    const s = await serve(hello, { BRAMBLE_EVAL_TIMEOUT: "600" });
    served.push(s);
    const a = await Client.open(s);
    const b = await Client.open(s);
    const ofA = a.call("graph.evaluate", { project: loopProject(), moduleArg: ".:default", evalId: "x" });
    const ofB = b.call("graph.evaluate", { project: loopProject(), moduleArg: ".:default", evalId: "x" });
    expect(await b.call("evaluation.cancel", { evalId: "x" })).toMatchObject({ result: { cancelled: true } });
    expect(((await ofB).error as { message: string }).message).toMatch(/evaluation cancelled/);
    // A's evaluation still runs: B's cancel was B's own.
    expect(await first(ofA, a.call("app.info", {}))).toBe(1);
    expect(await b.call("evaluation.cancel", { evalId: "x" })).toMatchObject({ result: { cancelled: false } });
    expect(await a.call("evaluation.cancel", { evalId: "x" })).toMatchObject({ result: { cancelled: true } });
    expect(((await ofA).error as { message: string }).message).toMatch(/evaluation cancelled/);
  });

  it("cancels the evaluations of a client that goes away", async () => {
    const s = await serve(hello, { BRAMBLE_EVAL_TIMEOUT: "600" });
    served.push(s);
    const a = await Client.open(s);
    void a.call("graph.evaluate", { project: loopProject(), moduleArg: ".:default" });
    void a.call("graph.evaluate", { project: loopProject(), moduleArg: ".:default", evalId: "mine" });
    const b = await Client.open(s);
    expect(await b.call("app.info", {})).toMatchObject({ result: {} });
    a.ws.close();
    while (!/cancelled 2 evaluation\(s\) of a closed WebSocket/.test(s.stderr())) await new Promise((r) => setTimeout(r, 50));
    expect(await b.call("app.info", {})).toMatchObject({ result: {} });
  });

  it("ends on SIGTERM and on SIGINT while a client's evaluation loops forever", async () => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const s = await serve(hello, { BRAMBLE_EVAL_TIMEOUT: "600" });
      served.push(s);
      const a = await Client.open(s);
      void a.call("graph.evaluate", { project: loopProject(), moduleArg: ".:default" });
      // The server is answering (the loop is in a worker): then it is told to stop.
      expect(await a.call("app.info", {})).toMatchObject({ result: {} });
      const exited = new Promise<number | null>((r) => s.child.once("exit", (code) => r(code)));
      s.child.kill(signal);
      expect(await exited).toBe(0);
    }
  });

  it("stops an evaluation at its time budget with the file and line, and answers others meanwhile", async () => {
    const looping = loopProject();
    const s = await serve(hello, { BRAMBLE_EVAL_TIMEOUT: "3" });
    served.push(s);
    const a = await Client.open(s);
    const b = await Client.open(s);
    const endless = a.call("graph.evaluate", { project: looping, moduleArg: ".:default" });
    expect(await first(endless, b.call("project.open", { path: hello }))).toBe(1);
    const error = (await endless).error as { message: string; evalError?: { file?: string; line?: number } };
    expect(error.message).toMatch(/ran longer than its time budget of 3 s/);
    expect(error.evalError?.file).toBe(join(looping, "default.bramble"));
    expect([3, 4]).toContain(error.evalError?.line);
  });

  it("refuses a FIFO or /dev/zero as a module with an error, without blocking", async () => {
    const dir = devicesProject();
    const s = await serve(dir);
    served.push(s);
    const a = await Client.open(s);
    const fifo = (await a.call("graph.evaluate", { project: dir, moduleArg: ".:default" })).error as { message: string };
    expect(fifo.message).toMatch(/pipe\.bramble: this module is a FIFO, not a regular file/);
    const zero = (await a.call("graph.evaluate", { project: dir, moduleArg: "./zero:default" })).error as { message: string };
    expect(zero.message).toMatch(/nul\.bramble: this module is a character device, not a regular file/);
    // Listing the project's functions reads every module too: it answers, and lists the rest.
    const opened = (await a.call("project.open", { path: dir })).result as { modules: { module: string }[] };
    expect(opened.modules.map((m) => m.module)).toContain(".");
    record({
      area: "input",
      attack: "a FIFO and /dev/zero as modules, through bramble serve",
      tries: 3,
      held: true,
      detail: "errors naming the file (a FIFO / a character device), no read blocked",
    });
  });

  it("answers a second client while the first plans with an unreachable ssh backend", async () => {
    const config = mkdtempSync(join(tmpdir(), "bramble-config-"));
    mkdirSync(join(config, "bramble"));
    // A host that accepts the connection and never says a word: ssh waits for its banner.
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    const port = (silent.address() as AddressInfo).port;
    // A connect timeout of an hour: anything that waited for this host would never answer.
    writeFileSync(
      join(config, "bramble", "config.toml"),
      `[sandbox]\nallowed_paths = ["/bin", "/usr", "/lib", "/lib64"]\n[backends.far]\nkind = "ssh"\nhost = "127.0.0.1"\nport = ${port}\nconnect_timeout = 3600\n`,
    );
    const s = await serve(hello, { BRAMBLE_CONFIG: join(config, "bramble", "config.toml") });
    served.push(s);
    after(() => silent.close());
    const a = await Client.open(s);
    const b = await Client.open(s);
    const planning = a.call("graph.evaluate", { project: join(repo, "test/fixtures/platforms"), moduleArg: ".:mac" });
    const info = b.call("app.info", {});
    // Both answer: planning does not wait for the silent host, and neither does the other client.
    const [graph, answered] = await Promise.all([planning, info]);
    expect(answered).toMatchObject({ result: { defaultModuleArg: expect.any(String) } });
    expect(graph.error).toBeUndefined();
    const mac = (graph.result as { nodes: { name: string; backend: string | null; planError?: string }[] }).nodes.find((n) => n.name === "mac-only");
    expect(mac).toMatchObject({ backend: null, planError: expect.stringMatching(/aarch64-darwin/) });
    record({
      area: "serve",
      attack: "an ssh backend whose host accepts and never answers (connect timeout an hour) while clients plan",
      tries: 1,
      held: true,
      detail: "planning and the other client answered; the probe runs in the background",
    });
  });

  it("answers a malformed percent escape with 400 and does not crash", async () => {
    const s = await serve(hello);
    served.push(s);
    // A raw request: fetch() would refuse to send some of these.
    const status = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port: s.port, path }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
    const paths = ["/%", "/%E0%A4%A", `/%ff%fe?token=${s.token}`, "/api%", `/assets/%c0%af?token=${s.token}`];
    const statuses = [];
    for (const path of paths) statuses.push(await status(path));
    record({
      area: "serve",
      attack: "malformed percent escapes in the URL",
      tries: paths.length,
      held: statuses.every((c) => c === 400) && s.child.exitCode === null,
      detail: `all ${statuses.join(", ")}; the server stayed up`,
    });
    expect(statuses).toEqual(paths.map(() => 400));
    expect(await status(`/?token=${s.token}`)).toBe(200);
    expect(s.child.exitCode).toBe(null);
  });
});
