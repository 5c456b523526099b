// `bramble serve` under attack, as a separate process (so a crash is seen as an exit): no
// token, a wrong token, a foreign Origin, malformed, binary and oversized messages, and a fuzz
// of thousands of random API messages. The server must refuse, log, and keep answering.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { cli, ensureCli, freshHome, repo } from "../helpers/cli.js";
import { record } from "./record.js";

interface Served {
  child: ChildProcess;
  url: string;
  port: number;
  token: string;
  stderr: () => string;
  alive: () => boolean;
}

function serve(args: string[] = []): Promise<Served> {
  ensureCli();
  const child = spawn(process.execPath, [cli, "serve", join(repo, "examples/hello"), "--port", "0", ...args], {
    env: { ...process.env, BRAMBLE_PATH: freshHome(), NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bramble serve printed no URL: ${out} ${err}`)), 30_000);
    child.on("exit", (code) => reject(new Error(`bramble serve exited ${code}: ${err}`)));
    child.stdout!.on("data", (d: Buffer) => {
      out += d;
      const m = /(http:\/\/\S+:(\d+)\/\?token=([0-9a-f]+))/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, port: Number(m[2]), token: m[3]!, stderr: () => err, alive: () => child.exitCode === null && child.signalCode === null });
      }
    });
  });
}

let s: Served;
beforeAll(async () => {
  s = await serve();
});
afterAll(() => {
  s?.child.kill("SIGKILL");
});

/** Opens a WebSocket; resolves with the socket, or rejects with the HTTP status of the refusal. */
function connect(query: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/api${query}`, { headers });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

/** Sends raw data and waits for the next reply (not an event) or the socket's close code. */
function exchange(ws: WebSocket, data: string | Buffer, binary = false): Promise<Record<string, unknown> | { closed: number }> {
  return new Promise((resolve) => {
    const onMessage = (raw: WebSocket.RawData) => {
      const reply = JSON.parse(String(raw));
      if ("event" in reply) return;
      ws.off("message", onMessage);
      resolve(reply);
    };
    ws.on("message", onMessage);
    ws.once("close", (code) => resolve({ closed: code }));
    ws.send(data, { binary });
  });
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

describe("bramble serve under attack", () => {
  it("binds 127.0.0.1 by default, and warns when told to bind another address", async () => {
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}$/);
    const wide = await serve(["--host", "0.0.0.0"]);
    try {
      await waitFor(() => /warning/.test(wide.stderr()));
      const warned = /warning: binding 0\.0\.0\.0/.test(wide.stderr());
      record({
        area: "serve",
        attack: "bind address: default, and --host 0.0.0.0",
        tries: 2,
        held: warned && s.url.startsWith("http://127.0.0.1:"),
        detail: `default ${s.url.replace(/token=.*/, "token=…")}; --host 0.0.0.0 warns: "${wide
          .stderr()
          .split("\n")
          .find((l) => l.startsWith("warning"))
          ?.slice(0, 80)}…"`,
      });
      expect(warned).toBe(true);
    } finally {
      wide.child.kill("SIGKILL");
    }
  });

  it("refuses pages and WebSockets without the token, with a wrong token, or from another Origin, and logs each", async () => {
    const http = async (q: string) => (await fetch(`http://127.0.0.1:${s.port}/${q}`)).status;
    const statuses = {
      "page, no token": await http(""),
      "page, wrong token": await http(`?token=${"0".repeat(32)}`),
      "page, token prefix": await http(`?token=${s.token.slice(0, 31)}`),
      "asset, no token": await http("index.html"),
      "path traversal": await http(`..%2f..%2f..%2fetc%2fpasswd?token=${"f".repeat(32)}`),
    };
    const ws: Record<string, string> = {};
    for (const [name, q, headers] of [
      ["ws, no token", "", {}],
      ["ws, wrong token", `?token=${"a".repeat(32)}`, {}],
      ["ws, token in cookie of another value", "", { Cookie: `bramble_token=${"b".repeat(32)}` }],
      ["ws, foreign Origin", `?token=${s.token}`, { Origin: "http://evil.example" }],
      ["ws, Origin of another port", `?token=${s.token}`, { Origin: `http://127.0.0.1:${s.port + 1}` }],
    ] as [string, string, Record<string, string>][]) {
      ws[name] = await connect(q, headers).then(
        (w) => {
          w.close();
          return "OPEN";
        },
        (e: Error) => e.message,
      );
    }
    await waitFor(() => (s.stderr().match(/refused/g) ?? []).length >= 10);
    const refusals = (s.stderr().match(/refused/g) ?? []).length;
    const held = Object.values(statuses).every((c) => c === 403) && Object.values(ws).every((v) => v === "HTTP 403") && refusals >= 10 && s.alive();
    record({
      area: "serve",
      attack: "HTTP and WebSocket without the token, a wrong or partial token, a foreign Origin",
      tries: 10,
      held,
      detail: `all 403, ${refusals} refusals logged (e.g. "${s
        .stderr()
        .split("\n")
        .find((l) => /foreign origin/.test(l))
        ?.slice(0, 90)}")`,
    });
    expect(statuses).toEqual({ "page, no token": 403, "page, wrong token": 403, "page, token prefix": 403, "asset, no token": 403, "path traversal": 403 });
    expect(Object.values(ws)).toEqual(Array(5).fill("HTTP 403"));
    expect(refusals).toBeGreaterThanOrEqual(10);
  });

  it("rejects malformed, binary and oversized messages with an error or a close, logs them, and keeps serving", async () => {
    const bad: [string, string | Buffer, boolean][] = [
      ["not JSON", "{not json", false],
      ["JSON but not an object", "[1,2,3]", false],
      ["unknown method", JSON.stringify({ id: 1, method: "fs.readFile", params: { path: "/etc/shadow" } }), false],
      ["prototype pollution", '{"id":2,"method":"app.info","params":{},"__proto__":{"polluted":true}}', false],
      ["wrong params", JSON.stringify({ id: 3, method: "graph.evaluate", params: { project: 5 } }), false],
      ["negative id", JSON.stringify({ id: -1, method: "app.info", params: {} }), false],
      ["binary", randomBytes(64), true],
      ["deep nesting", "[".repeat(100_000) + "]".repeat(100_000), false],
    ];
    const ws = await connect(`?token=${s.token}`);
    const replies: Record<string, string> = {};
    for (const [name, data, binary] of bad) {
      const r = await exchange(ws, data, binary);
      replies[name] = "closed" in r ? `closed ${r.closed}` : (r as { error?: { message: string } }).error ? "error" : "ANSWERED";
    }
    ws.close();
    const big = await connect(`?token=${s.token}`);
    const oversized = await exchange(big, JSON.stringify({ id: 9, method: "app.info", params: { pad: "x".repeat(2 << 20) } }));
    const after = await connect(`?token=${s.token}`);
    const ok = await exchange(after, JSON.stringify({ id: 10, method: "app.info", params: {} }));
    after.close();
    await waitFor(() => /oversized|too big|Max payload/i.test(s.stderr()));
    const logged = /rejected a WebSocket message/.test(s.stderr()) && /oversized|too big|Max payload/i.test(s.stderr());
    const held = Object.values(replies).every((v) => v === "error") && "closed" in oversized && (ok as { id?: number }).id === 10 && s.alive() && logged;
    record({
      area: "serve",
      attack: "malformed, non-object, unknown-method, wrong-params, binary, deeply nested and 2 MiB WebSocket messages",
      tries: bad.length + 1,
      held,
      detail: `each answered with an error naming the problem; the 2 MiB message closed its socket (${"closed" in oversized ? oversized.closed : "?"}, over the 1 MiB limit); all logged; the next client was answered`,
    });
    expect(replies).toEqual(Object.fromEntries(bad.map(([n]) => [n, "error"])));
    expect(oversized).toEqual({ closed: 1009 });
    expect((ok as { id?: number }).id).toBe(10);
    expect(logged).toBe(true);
    expect(s.alive()).toBe(true);
  });

  it("survives a fuzz of thousands of random API messages and answers the next valid one", async () => {
    const methods = [
      "app.info",
      "project.open",
      "project.recent",
      "graph.evaluate",
      "graph.diff",
      "build.cancel",
      "derivation.get",
      "log.get",
      "history.list",
      "backends.list",
      "source.get",
      "nope",
      "__proto__",
      "constructor",
    ];
    let seed = 12345;
    const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const value = (depth = 0): unknown => {
      const k = Math.floor(rand() * (depth > 2 ? 6 : 9));
      switch (k) {
        case 0:
          return null;
        case 1:
          return Math.floor(rand() * 2 ** 40) * (rand() < 0.5 ? -1 : 1);
        case 2:
          return rand() < 0.5;
        case 3:
          return pick(["", "/", "/etc/shadow", "../../..", ".:default", "x86_64-linux", "\u0000", "a".repeat(1000), "${{ }}", "%s%n"]);
        case 4:
          return rand() * 1e308;
        case 5:
          return randomBytes(8).toString("hex");
        case 6:
          return Array.from({ length: Math.floor(rand() * 5) }, () => value(depth + 1));
        default:
          return Object.fromEntries(
            Array.from({ length: Math.floor(rand() * 5) }, () => [
              pick(["project", "moduleArg", "target", "hash", "buildId", "fromLine", "limit", "path", "runId", "__proto__", "constructor", "x"]),
              value(depth + 1),
            ]),
          );
      }
    };
    const N = 3000;
    const ws = await connect(`?token=${s.token}`);
    let replies = 0;
    let errors = 0;
    const kinds = new Map<string, number>();
    ws.on("message", (raw) => {
      const r = JSON.parse(String(raw));
      if ("event" in r) return;
      replies++;
      if (r.error) errors++;
    });
    for (let i = 0; i < N; i++) {
      const shape = Math.floor(rand() * 4);
      let msg: string;
      if (shape === 0) msg = JSON.stringify(value());
      else if (shape === 1) msg = randomBytes(Math.floor(rand() * 64)).toString("latin1");
      else msg = JSON.stringify({ id: shape === 2 ? i : value(), method: pick(methods), params: value() });
      kinds.set(["json", "junk", "api", "api-bad-id"][shape]!, (kinds.get(["json", "junk", "api", "api-bad-id"][shape]!) ?? 0) + 1);
      ws.send(msg);
    }
    await waitFor(() => replies >= N, 60_000);
    const answered = replies;
    const probe = await exchange(ws, JSON.stringify({ id: 424242, method: "app.info", params: {} }));
    ws.close();
    const held = answered === N && (probe as { id?: number }).id === 424242 && s.alive();
    record({
      area: "serve",
      attack: "fuzz: random JSON, random bytes, API calls with random params",
      tries: N,
      held,
      detail: `${answered} of ${N} answered (${errors} errors, ${N - errors} results), server up, the next valid request answered`,
    });
    expect(answered).toBe(N);
    expect((probe as { id?: number }).id).toBe(424242);
    expect(s.alive()).toBe(true);
  });
});
