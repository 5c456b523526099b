// Electron's IPC wiring and window settings, tested without Electron: the handlers are
// the same dispatch the WebSocket host uses.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createService } from "../../core/api/service.js";
import { makeInvokeHandler } from "../../electron/ipc.js";
import { isAllowedNavigation, webPreferences, ELECTRON_CSP } from "../../electron/window.js";
import { freshHome, repo } from "../helpers/cli.js";

const host = createService({ home: freshHome(), defaultProject: join(repo, "examples/hello") });
afterAll(() => host.close());
const invoke = makeInvokeHandler(host);

describe("IPC handlers", () => {
  it("answer a valid request through the service", async () => {
    const reply = await invoke("app.info", {});
    expect(reply).toMatchObject({ ok: true, result: { defaultProject: join(repo, "examples/hello") } });
  });

  it("evaluate a graph exactly as the WebSocket host does", async () => {
    const reply = await invoke("graph.evaluate", { project: join(repo, "examples/hello"), moduleArg: ".:default" });
    expect(reply.ok).toBe(true);
    // greeting, hello, and the seed library's busybox (its .deb and its applets)
    expect((reply as { result: { nodes: unknown[] } }).result.nodes).toHaveLength(4);
  });

  it("validate every argument and name the bad field", async () => {
    expect(await invoke(42, {})).toEqual({ ok: false, error: { message: "invalid method name", field: "method" } });
    expect(await invoke("graph.evaluate", { project: "/x", moduleArg: 7 })).toMatchObject({ ok: false, error: { field: "moduleArg" } });
    expect(await invoke("derivation.get", { hash: "../../etc/passwd" })).toMatchObject({ ok: false, error: { field: "hash" } });
    expect(await invoke("__proto__", {})).toMatchObject({ ok: false, error: { field: "method" } });
    expect(await invoke("build.start", { project: "/x", moduleArg: "./a:b", jobs: -1 })).toMatchObject({ ok: false, error: { field: "jobs" } });
  });
});

describe("the window", () => {
  it("isolates the renderer", () => {
    const prefs = webPreferences("/p/preload.cjs");
    expect(prefs).toMatchObject({ contextIsolation: true, nodeIntegration: false, sandbox: true, webSecurity: true, webviewTag: false });
  });
  it("never navigates away from the app", () => {
    expect(isAllowedNavigation("bramble-app://app/index.html")).toBe(true);
    expect(isAllowedNavigation("https://example.com/")).toBe(false);
    expect(isAllowedNavigation("file:///etc/passwd")).toBe(false);
    expect(isAllowedNavigation("not a url")).toBe(false);
  });
  it("has a strict CSP with no remote scripts and no network", () => {
    expect(ELECTRON_CSP).toMatch(/script-src 'self'/);
    expect(ELECTRON_CSP).toMatch(/connect-src 'none'/);
    expect(ELECTRON_CSP).not.toMatch(/unsafe-eval/);
  });
});

describe("the preload bundle", () => {
  it("requires nothing but electron (a sandboxed preload can load no other module)", () => {
    const r = spawnSync(process.execPath, [join(repo, "scripts/build.mjs"), "electron"], { cwd: repo, encoding: "utf8" });
    expect(r.status).toBe(0);
    const code = readFileSync(join(repo, "dist/electron/preload.cjs"), "utf8");
    const required = [...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
    expect(required).toEqual(["electron"]);
    expect(code).toMatch(/exposeInMainWorld\("bramble"/);
  });
});
