// `bramble serve`'s host: token, origin and message checks, and the API over WebSocket.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createService, type ServiceHost } from "../../core/api/service.js";
import { startServer, type RunningServer } from "../../core/serve/server.js";
import { freshHome, repo } from "../helpers/cli.js";
import { record } from "../reliability/record.js";
import { spawnSync } from "node:child_process";

const hello = join(repo, "examples/hello");
let host: ServiceHost;
let server: RunningServer;
const logged: string[] = [];

beforeAll(async () => {
  if (!existsSync(join(repo, "dist/renderer/index.html"))) {
    spawnSync(process.execPath, [join(repo, "scripts/build.mjs"), "renderer"], { cwd: repo, stdio: "inherit" });
  }
  host = createService({ home: freshHome(), defaultProject: hello, defaultModuleArg: ".:default" });
  server = await startServer({ host, staticDir: join(repo, "dist/renderer"), log: (l) => logged.push(l) });
});
afterAll(async () => {
  await server?.close();
  host?.close();
});

function connect(query: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api${query}`, { headers });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function request(ws: WebSocket, msg: unknown): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const onMessage = (data: WebSocket.RawData) => {
      const reply = JSON.parse(String(data));
      if ("event" in reply) return;
      ws.off("message", onMessage);
      resolve(reply);
    };
    ws.on("message", onMessage);
    ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  });
}

describe("bramble serve", () => {
  it("binds loopback and prints a URL with a token", () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}$/);
  });

  it("refuses a page request without the token or with a wrong one, and logs it", async () => {
    const none = await fetch(`http://127.0.0.1:${server.port}/`);
    expect(none.status).toBe(403);
    const wrong = await fetch(`http://127.0.0.1:${server.port}/?token=${"0".repeat(32)}`);
    expect(wrong.status).toBe(403);
    expect(logged.some((l) => /refused GET \/ .*token/.test(l))).toBe(true);
  });

  it("serves the app with a Content-Security-Policy when the token is right", async () => {
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toMatch(/script-src 'self'/);
    expect(await res.text()).toMatch(/<div id="root">|<div id=root>/);
    // No cookie: a cookie for 127.0.0.1 would go to every other server on 127.0.0.1.
    expect(res.headers.get("set-cookie")).toBe(null);
  });

  it("answers a malformed percent escape with 400 and keeps serving", async () => {
    for (const path of ["/%", "/%E0%A4%A", "/assets/%zz.js", "/%00"]) {
      const res = await fetch(`http://127.0.0.1:${server.port}${path}?token=${server.token}`);
      expect(res.status, path).toBe(400);
    }
    await expect(connect(`?token=${server.token}`.replace("?", "?%=&"))).resolves.toBeDefined();
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      const w = new WebSocket(`ws://127.0.0.1:${server.port}/api%/x?token=${server.token}`);
      w.once("open", () => resolve(w));
      w.once("unexpected-response", (_q, r) => reject(new Error(`HTTP ${r.statusCode}`)));
      w.once("error", reject);
    }).catch((e: Error) => e);
    expect(String(ws)).toMatch(/403/);
    expect((await fetch(server.url)).status).toBe(200);
  });

  it("refuses a Host header that is a DNS name (rebinding), on pages and on the WebSocket", async () => {
    const { request: httpRequest } = await import("node:http");
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port: server.port, path: `/?token=${server.token}`, headers: { Host: host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
    const rebound = [await status(`attacker.example:${server.port}`), await status(`localhost.attacker.example:${server.port}`)];
    record({
      area: "serve",
      attack: "DNS rebinding: a Host header that is a foreign name",
      tries: 2,
      held: rebound.every((c) => c === 403),
      detail: `${rebound.join(", ")}: only localhost and IP literals are served`,
    });
    expect(rebound).toEqual([403, 403]);
    expect(await status(`localhost:${server.port}`)).toBe(200);
    expect(await status(`127.0.0.1:${server.port}`)).toBe(200);
    await expect(connect(`?token=${server.token}`, { Host: `attacker.example:${server.port}` })).rejects.toThrow(/403/);
  });

  it("takes the token as a WebSocket subprotocol and never echoes it", async () => {
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      const w = new WebSocket(`ws://127.0.0.1:${server.port}/api`, ["bramble", `bramble-token.${server.token}`]);
      w.once("open", () => resolve(w));
      w.once("error", reject);
      w.once("unexpected-response", (_q, r) => reject(new Error(`HTTP ${r.statusCode}`)));
    });
    try {
      expect(ws.protocol).toBe("bramble");
      expect(await request(ws, { id: 1, method: "app.info", params: {} })).toMatchObject({ id: 1, result: { defaultModuleArg: ".:default" } });
    } finally {
      ws.close();
    }
    const wrong = new Promise((resolve, reject) => {
      const w = new WebSocket(`ws://127.0.0.1:${server.port}/api`, ["bramble", `bramble-token.${"0".repeat(32)}`]);
      w.once("open", () => resolve("open"));
      w.once("error", reject);
      w.once("unexpected-response", (_q, r) => reject(new Error(`HTTP ${r.statusCode}`)));
    });
    await expect(wrong).rejects.toThrow(/403/);
  });

  it("serves the app's scripts without the token (they are public) but not the page", async () => {
    const html = await (await fetch(server.url)).text();
    const script = /src="([^"]+\.js)"/.exec(html)?.[1];
    expect(script).toMatch(/^(\.\/|\/)?assets\//);
    const res = await fetch(`http://127.0.0.1:${server.port}/${script!.replace(/^\.?\//, "")}`);
    expect(res.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${server.port}/index.html`)).status).toBe(403);
    expect((await fetch(`http://127.0.0.1:${server.port}/no/such/page`)).status).toBe(403);
  });

  it("refuses a WebSocket without the token or from another origin", async () => {
    await expect(connect("")).rejects.toThrow(/403/);
    await expect(connect(`?token=${server.token}`, { Origin: "http://evil.example" })).rejects.toThrow(/403/);
  });

  it("answers malformed messages with an error naming the field, and stays up", async () => {
    const ws = await connect(`?token=${server.token}`, { Origin: `http://127.0.0.1:${server.port}` });
    try {
      expect(await request(ws, "not json")).toMatchObject({ id: null, error: { field: "(message)" } });
      expect(await request(ws, { id: 1, method: "nope", params: {} })).toMatchObject({ id: 1, error: { field: "method" } });
      expect(await request(ws, { id: 2, method: "graph.evaluate", params: { project: 5 } })).toMatchObject({ id: 2, error: { field: "project" } });
      expect(await request(ws, { id: 3, method: "build.cancel", params: { runId: "x", extra: 1 } })).toMatchObject({ id: 3, error: {} });
      const info = await request(ws, { id: 4, method: "app.info", params: {} });
      expect(info).toMatchObject({ id: 4, result: { defaultProject: hello, defaultModuleArg: ".:default" } });
    } finally {
      ws.close();
    }
  });

  it("evaluates the example's graph: its two nodes and the seed library's busybox, edges, builder and system badges", async () => {
    const ws = await connect(`?token=${server.token}`);
    try {
      const reply = await request(ws, { id: 1, method: "graph.evaluate", params: { project: hello, moduleArg: ".:default" } });
      const graph = reply.result as {
        nodes: { name: string; badge: string; system: string; hash: string }[];
        edges: { from: string; to: string }[];
        host: string;
      };
      expect(graph.nodes.map((n) => n.name).sort()).toEqual(["busybox", `busybox-static-${graph.host}`, "greeting", "hello"]);
      for (const n of graph.nodes) {
        // busybox's .deb is fetched by the engine, for any system; the rest build in the sandbox
        const fetched = n.name.startsWith("busybox-static-");
        expect(n.badge).toBe(fetched ? "fetch_url" : "local");
        expect(n.system).toBe(fetched ? "any" : graph.host);
      }
      const byName = Object.fromEntries(graph.nodes.map((n) => [n.name, n.hash]));
      const edge = (from: string, to: string) => `${from} -> ${to}`;
      const names = Object.fromEntries(Object.entries(byName).map(([k, v]) => [v, k]));
      expect(graph.edges.map((e) => edge(names[e.from]!, names[e.to]!)).sort()).toEqual([
        "busybox -> greeting",
        "busybox -> hello",
        `busybox-static-${graph.host} -> busybox`,
        "greeting -> hello",
      ]);
    } finally {
      ws.close();
    }
  });

  it("shows a build file of an opened project, and nothing else of the host", async () => {
    const ws = await connect(`?token=${server.token}`);
    try {
      const ok = await request(ws, { id: 1, method: "source.get", params: { path: join(hello, "default.bramble") } });
      expect((ok.result as { text: string }).text).toMatch(/def default\(\):/);
      const passwd = await request(ws, { id: 2, method: "source.get", params: { path: "/etc/passwd" } });
      expect(passwd.error).toMatchObject({ field: "path" });
      const other = await request(ws, { id: 3, method: "source.get", params: { path: join(repo, "test/fixtures/failing/default.bramble") } });
      expect((other.error as { message: string }).message).toMatch(/not in a project opened here/);
    } finally {
      ws.close();
    }
  });

  it("streams a build's events in order, batched for clients that ask", async () => {
    const batched = await connect(`?batch=1&token=${server.token}`);
    const single = await connect(`?token=${server.token}`);
    const got = { batched: [] as { type: string; line?: string }[], single: [] as { type: string; line?: string }[], batches: 0 };
    batched.on("message", (d) => {
      const m = JSON.parse(String(d));
      if (m.events) {
        got.batches++;
        got.batched.push(...m.events);
      }
    });
    single.on("message", (d) => {
      const m = JSON.parse(String(d));
      if (m.event) got.single.push(m.event);
    });
    try {
      const started = await request(batched, { id: 1, method: "build.start", params: { project: hello, moduleArg: ".:default" } });
      // greeting and hello, and the seed library's busybox (its .deb and its applets)
      expect(started.result).toMatchObject({ total: 4 });
      const deadline = Date.now() + 30_000;
      while (!got.single.some((e) => e.type === "run-finished") || !got.batched.some((e) => e.type === "run-finished")) {
        if (Date.now() > deadline) throw new Error("the build did not finish");
        await new Promise((r) => setTimeout(r, 50));
      }
      const types = (es: { type: string }[]) => es.map((e) => e.type);
      expect(types(got.batched)).toEqual(types(got.single));
      expect(got.batches).toBeLessThan(got.batched.length);
      const logs = got.single.filter((e) => e.type === "log").map((e) => e.line);
      expect(logs).toContain("writing the greeting");
      const host = ((await request(single, { id: 2, method: "app.info", params: {} })).result as { host: string }).host;
      expect(logs.indexOf("done")).toBeGreaterThan(logs.indexOf(`building hello for ${host} on ${host}`));
    } finally {
      batched.close();
      single.close();
    }
  });

  it("reports an evaluation error with file, line and column", async () => {
    const ws = await connect(`?token=${server.token}`);
    try {
      const reply = await request(ws, { id: 1, method: "graph.evaluate", params: { project: hello, moduleArg: ".:nonexistent" } });
      expect((reply.error as { message: string }).message).toMatch(/no function "nonexistent"/);
    } finally {
      ws.close();
    }
  });
});
