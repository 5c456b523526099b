// Issue 14 point 5, the service's half: every run is recorded (the runs table), and a run whose
// service dies while it runs is interrupted, not left "running": when the service closes with
// it still going, or, when its process was killed, at the next service's start. The next
// service lists it (build.runs) and answers for it (build.run). Real builds (bwrap), SQLite.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { BuildEvent } from "../../core/api/schema.js";
import { createService } from "../../core/api/service.js";
import { cli, ensureCli, freshHome } from "../helpers/cli.js";

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), "bramble-runs-"));
  writeFileSync(join(dir, "bramble.toml"), '[package]\nname = "runs"\nversion = "0.1.0"\n[build]\nsandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n');
  writeFileSync(
    join(dir, "default.bramble"),
    `def quick():
    return derivation(name = "quick", builder = "/bin/sh", args = ["-c", "echo quick > $out"])

def slow():
    return derivation(name = "slowrun", builder = "/bin/sh", args = ["-c", "echo started; sleep 30; echo > $out"])
`,
  );
  return dir;
}

describe("runs in the database", () => {
  it("records how a run ended; a run its service closed on, or whose process died, is interrupted", async () => {
    const home = freshHome();
    const dir = project();
    const a = createService({ home });
    const events: BuildEvent[] = [];
    a.onEvent((e) => events.push(e));
    const finished = new Promise<void>((resolve) => a.onEvent((e) => e.type === "run-finished" && resolve()));
    const quick = await a.service["build.start"]({ project: dir, moduleArg: ".:quick" });
    await finished;
    expect(await a.service["build.run"]({ runId: quick.runId })).toMatchObject({ runId: quick.runId, moduleArg: ".:quick", status: "built" });

    // A run still going when its service closes: interrupted (its build, cancelled).
    const started = new Promise<void>((resolve) => a.onEvent((e) => e.type === "log" && resolve()));
    const slow = await a.service["build.start"]({ project: dir, moduleArg: ".:slow" });
    await started;
    expect((await a.service["build.run"]({ runId: slow.runId }))!.status).toBe("running");
    a.close();

    // A run left "running" by a process that is gone (killed: nothing closed it).
    const b0 = createService({ home });
    const dead = "0123456789abcdef";
    b0.engine.db.sql
      .prepare("INSERT INTO runs (run_id, project, module_arg, target, status, started_at, pid) VALUES (?, ?, ?, ?, 'running', ?, ?)")
      .run(dead, dir, ".:slow", "x86_64-linux", Date.now(), 4194305); // above Linux's pid_max: never alive
    b0.close();

    const b = createService({ home });
    try {
      const slowRun = await b.service["build.run"]({ runId: slow.runId });
      expect(slowRun).toMatchObject({ runId: slow.runId, project: dir, moduleArg: ".:slow", status: "interrupted" });
      // its one build (still "running" in the DB here: the closed service was this same process)
      expect(Object.keys(slowRun!.states)).toHaveLength(1);
      expect((await b.service["build.run"]({ runId: dead }))!.status).toBe("interrupted");
      const listed = await b.service["build.runs"]({});
      expect(listed.map((r) => [r.runId, r.status])).toEqual([
        [dead, "interrupted"],
        [slow.runId, "interrupted"],
        [quick.runId, "built"],
      ]);
      expect(await b.service["build.run"]({ runId: "ffffffffffffffff" })).toBeNull();
    } finally {
      b.close();
    }
  }, 60_000);

  it("lists a run another process is doing as external and running, and its node as building", async () => {
    ensureCli();
    const home = freshHome();
    const dir = project();
    // A `bramble build` in a terminal, on the same store.
    const child = spawn(process.execPath, [cli, "build", ".:slow"], {
      cwd: dir,
      env: { ...process.env, BRAMBLE_PATH: home, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const exited = new Promise<void>((r) => child.on("exit", () => r()));
    await new Promise<void>((resolve, reject) => {
      const check = (d: Buffer) => {
        out += d;
        if (/building slowrun/.test(out)) resolve();
      };
      child.stdout.on("data", check);
      child.stderr.on("data", check);
      void exited.then(() => reject(new Error(`bramble build ended first: ${out}`)));
    });
    const host = createService({ home });
    try {
      const [run] = await host.service["build.runs"]({});
      expect(run).toMatchObject({ project: dir, moduleArg: ".:slow", status: "running", external: true });
      const graph = await host.service["graph.evaluate"]({ project: dir, moduleArg: ".:slow" });
      expect(graph.nodes.map((n) => [n.name, n.state])).toEqual([["slowrun", "building"]]);
      // Ctrl-C in the terminal: the run ends cancelled, and this service says so.
      child.kill("SIGINT");
      await exited;
      expect((await host.service["build.run"]({ runId: run!.runId }))!.status).toBe("cancelled");
      const after = await host.service["graph.evaluate"]({ project: dir, moduleArg: ".:slow" });
      expect(after.nodes.map((n) => [n.name, n.state])).toEqual([["slowrun", "cancelled"]]);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      host.close();
    }
  }, 60_000);
});
