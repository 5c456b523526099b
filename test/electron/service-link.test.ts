// Electron main relays to the service's utility process: both ends of the link, joined by a
// real MessageChannel (structured clone, as between Electron's processes). Electron's
// binary is not needed: the link is the same code with a different port underneath.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import { createService } from "../../core/api/service.js";
import { makeInvokeHandler } from "../../electron/ipc.js";
import { serveOverPort, serviceRelay, type FromService, type ToService } from "../../electron/service-link.js";
import { freshHome, repo } from "../helpers/cli.js";

const hello = join(repo, "examples/hello");

/** A project of two /bin/sh derivations (the tests' user config allows their host paths). */
function twoStepProject(): string {
  const dir = mkdtempSync(join(tmpdir(), "bramble-relay-"));
  writeFileSync(join(dir, "bramble.toml"), '[package]\nname = "relay"\nversion = "0.1.0"\n[build]\nsandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n');
  writeFileSync(
    join(dir, "default.bramble"),
    'def default():\n    a = derivation(name = "first", builder = "/bin/sh", args = ["-c", "echo one > $out"])\n    return derivation(name = "second", builder = "/bin/sh", args = ["-c", "cat " + a.out + " > $out"])\n',
  );
  return dir;
}

function port<In, Out>(p: MessagePort) {
  return { postMessage: (m: Out) => p.postMessage(m), onMessage: (l: (m: In) => void) => p.on("message", l) };
}

const host = createService({ home: freshHome(), defaultProject: hello, defaultModuleArg: ".:default" });
const channel = new MessageChannel();
let quits = 0;
// The relay is made first: requests sent before the service end is up wait for its "ready".
const relay = serviceRelay(port<FromService, ToService>(channel.port1));
const early = relay.invoke("app.info", {});
serveOverPort(
  port<ToService, FromService>(channel.port2),
  makeInvokeHandler(host),
  (l) => host.onEvent(l),
  () => quits++,
);
afterAll(() => {
  channel.port1.close();
  host.close();
});

describe("the relay between Electron main and the service process", () => {
  it("answers a request sent before the service process was ready", async () => {
    expect(await early).toEqual({ ok: true, result: expect.objectContaining({ defaultProject: hello, defaultModuleArg: ".:default" }) });
  });

  it("carries the service's validation errors back as envelopes naming the field", async () => {
    expect(await relay.invoke(42, {})).toEqual({ ok: false, error: { message: "invalid method name", field: "method" } });
    expect(await relay.invoke("graph.evaluate", { project: hello, moduleArg: 7 })).toMatchObject({ ok: false, error: { field: "moduleArg" } });
  });

  it("relays a build's events in order, ending with run-finished", async () => {
    const events: { type: string; runId?: string }[] = [];
    const finished = new Promise<void>((resolve) =>
      relay.onEvent((e) => {
        events.push(e);
        if (e.type === "run-finished") resolve();
      }),
    );
    const started = await relay.invoke("build.start", { project: twoStepProject(), moduleArg: ".:default" });
    expect(started).toMatchObject({ ok: true, result: { total: 2 } });
    await finished;
    const runId = (started as { result: { runId: string } }).result.runId;
    const mine = events.filter((e) => e.runId === runId).map((e) => e.type);
    expect(mine[0]).toBe("run-started");
    expect(mine.at(-1)).toBe("run-finished");
    expect(mine.filter((t) => t === "built" || t === "cached")).toHaveLength(2);
  });

  it("answers every waiting and later request with an error once the service process is gone", async () => {
    const lonely = new MessageChannel();
    const r = serviceRelay(port<FromService, ToService>(lonely.port1));
    lonely.port2.postMessage({ type: "ready" });
    await new Promise((res) => setTimeout(res, 10));
    const waiting = r.invoke("app.info", {}); // nobody answers on port2
    r.lost("the service process exited (code 9)");
    expect(await waiting).toEqual({ ok: false, error: { message: "the service process exited (code 9)" } });
    expect(await r.invoke("app.info", {})).toEqual({ ok: false, error: { message: "the service process exited (code 9)" } });
    lonely.port1.close();
  });

  it("passes quit on to the service process", async () => {
    relay.quit();
    await new Promise((res) => setTimeout(res, 50));
    expect(quits).toBe(1);
  });
});

describe("Electron main", () => {
  it("imports nothing of the engine: the service runs in the utility process it forks", () => {
    const main = readFileSync(join(repo, "electron/main.ts"), "utf8");
    const engineImports = [...main.matchAll(/^import (?!type )[^;]*from "(\.\.\/core\/[^"]+)"/gm)].map((m) => m[1]);
    expect(engineImports).toEqual([]);
    expect(main).toMatch(/utilityProcess\.fork\(join\(here, "service\.mjs"\)/);
  });
});
