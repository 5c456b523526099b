// The app's service process for real: dist/electron/service.mjs (what utilityProcess.fork
// runs) in a Node process whose `process.parentPort` is the IPC channel (the one thing
// Electron adds), driven through main's relay. While one request evaluates `while True`, the
// relay keeps getting answers; cancelling stops the loop at its line; quit ends the process.
import { fork, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { serviceRelay, type FromService, type ToService } from "../../electron/service-link.js";
import { freshHome, repo } from "../helpers/cli.js";

const service = join(repo, "dist/electron/service.mjs");

function ensureBuilt(): void {
  if (existsSync(service) && existsSync(join(repo, "dist/eval-worker.mjs"))) return;
  const r = spawnSync(process.execPath, [join(repo, "scripts/build.mjs"), "electron"], { cwd: repo, stdio: "inherit" });
  if (r.status !== 0) throw new Error("building dist/electron failed");
}

/** Electron's process.parentPort, made of Node's IPC channel. */
function shim(): string {
  const file = join(mkdtempSync(join(tmpdir(), "bramble-parentport-")), "parent-port.mjs");
  writeFileSync(file, "process.parentPort = { postMessage: (m) => process.send(m), on: (ev, cb) => process.on(ev, (data) => cb({ data })) };\n");
  return pathToFileURL(file).href;
}

function loopProject(): string {
  const dir = mkdtempSync(join(tmpdir(), "bramble-loop-"));
  writeFileSync(join(dir, "bramble.toml"), '[package]\nname = "loop"\nversion = "0.1.0"\n');
  writeFileSync(join(dir, "default.bramble"), "def default():\n    x = 0\n    while True:\n        x += 1\n    return []\n");
  return dir;
}

describe("the service process", () => {
  it("answers through the relay while it evaluates forever, cancels at the line, and quits", async () => {
    ensureBuilt();
    const hello = join(repo, "examples/hello");
    const child = fork(service, [], {
      execArgv: ["--import", shim()],
      env: { ...process.env, BRAMBLE_PATH: freshHome(), BRAMBLE_APP_ARGS: JSON.stringify([hello]), BRAMBLE_EVAL_TIMEOUT: "600" },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    try {
      const relay = serviceRelay({
        postMessage: (m: ToService) => child.send(m),
        onMessage: (l) => child.on("message", (m) => l(m as FromService)),
      });
      const looping = loopProject();
      const endless = relay.invoke("graph.evaluate", { project: looping, moduleArg: ".:default", evalId: "app-1" });
      let endlessDone = false;
      void endless.then(() => (endlessDone = true));
      const info = await relay.invoke("app.info", {});
      expect(info).toMatchObject({ ok: true, result: { defaultProject: hello } });
      const opened = await relay.invoke("project.open", { path: hello });
      expect(opened).toMatchObject({ ok: true, result: { root: hello } });
      expect(endlessDone).toBe(false);
      expect(await relay.invoke("evaluation.cancel", { evalId: "app-1" })).toEqual({ ok: true, result: { cancelled: true } });
      const stopped = (await endless) as { ok: false; error: { message: string; evalError?: { file?: string; line?: number } } };
      expect(stopped.ok).toBe(false);
      expect(stopped.error.message).toMatch(/evaluation cancelled/);
      expect(stopped.error.evalError?.file).toBe(join(looping, "default.bramble"));
      relay.quit();
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
