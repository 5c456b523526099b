// More than one process on one store: two builds of the same graph build each derivation
// once; a build killed with SIGKILL leaves a consistent store and the next run succeeds.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build as esbuild } from "esbuild";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Derivation } from "../../core/derivation/derivation.js";
import { derivationHash } from "../../core/derivation/derivation.js";
import { openEngine, cleanup } from "../../core/build/engine.js";
import { build, cleanupTemps, graph, ref, SANDBOX_PATHS, shDrv, tempDir } from "./helpers.js";

let script = "";
let scriptDir = "";

beforeAll(async () => {
  // Bundle the child script; its packages resolve through a node_modules link.
  scriptDir = mkdtempSync(join(tmpdir(), "bramble-child-"));
  const dir = join(scriptDir, "bin");
  mkdirSync(dir, { recursive: true });
  symlinkSync(join(process.cwd(), "node_modules"), join(dir, "node_modules"));
  script = join(dir, "child.mjs");
  await esbuild({
    entryPoints: [join(process.cwd(), "test/engine/child.ts")],
    outfile: script,
    bundle: true,
    platform: "node",
    format: "esm",
    packages: "external",
    logLevel: "warning",
  });
});

afterEach(cleanupTemps);
afterAll(() => rmSync(scriptDir, { recursive: true, force: true }));

function startChild(
  home: string,
  drvs: Map<string, Derivation>,
  roots: Derivation[],
): { child: ChildProcess; done: Promise<{ status: string; outputs: [string, Record<string, string>][] }>; started: Promise<void> } {
  const child = spawn(process.execPath, [script], { env: { ...process.env, BRAMBLE_PATH: home }, stdio: ["pipe", "pipe", "pipe"] });
  child.stdin!.end(JSON.stringify({ drvs: [...drvs], roots: roots.map(derivationHash), sandboxPaths: SANDBOX_PATHS, projectRoot: tempDir() }));
  let out = "";
  let err = "";
  let onStarted: () => void;
  const started = new Promise<void>((r) => (onStarted = r));
  child.stdout!.on("data", (d: Buffer) => (out += d));
  child.stderr!.on("data", (d: Buffer) => {
    err += d;
    if (err.includes("started ")) onStarted();
  });
  const done = new Promise<{ status: string; outputs: [string, Record<string, string>][] }>((resolve, reject) =>
    child.on("close", (code, sig) => {
      if (code === 0) resolve(JSON.parse(out));
      else reject(new Error(`child exited ${code ?? sig}: ${err}`));
    }),
  );
  return { child, done, started };
}

describe("processes", () => {
  it("two processes building the same graph build each derivation once, and both succeed", async () => {
    const home = join(tempDir(), "home");
    openEngine(home).close();
    const a = shDrv("a", "sleep 0.5; echo a > $out");
    const b = shDrv("b", `sleep 0.3; cat ${ref(a)} > $out; echo b >> $out`);
    const drvs = graph(a, b);
    const one = startChild(home, drvs, [b]);
    const two = startChild(home, drvs, [b]);
    const [r1, r2] = await Promise.all([one.done, two.done]);
    expect(r1.status).toBe("built");
    expect(r2.status).toBe("built");
    expect(r1.outputs).toEqual(r2.outputs);
    const engine = openEngine(home);
    expect(engine.db.listBuilds({ drvHash: derivationHash(a) })).toHaveLength(1);
    expect(engine.db.listBuilds({ drvHash: derivationHash(b) })).toHaveLength(1);
    expect(engine.store.verifySync({})).toEqual([]);
    engine.close();
  });

  it("SIGKILL mid-build leaves store and DB consistent; the next run cleans up and succeeds", async () => {
    const home = join(tempDir(), "home");
    openEngine(home).close();
    const marker = 800000 + Math.floor(Math.random() * 90000);
    const d = shDrv("victim", `mkdir $out; echo half > $out/part; sleep 2.${marker}; echo done > $out/whole`);
    const run = startChild(home, graph(d), [d]);
    await run.started;
    await new Promise((r) => setTimeout(r, 300));
    run.child.kill("SIGKILL");
    await run.done.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));

    // --die-with-parent: the sandbox went with its killed parent.
    expect(execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })).not.toContain(`sleep 2.${marker}`);
    const engine = openEngine(home); // opening cleans up
    // The killed build is recorded cancelled, nothing of it is in the store, no temp dirs or locks remain.
    const builds = engine.db.listBuilds({ drvHash: derivationHash(d) });
    expect(builds).toHaveLength(1);
    expect(builds[0]!.status).toBe("cancelled");
    expect(readdirSync(engine.store.dir).filter((n) => n.endsWith("-victim"))).toEqual([]);
    expect(readdirSync(engine.layout.tmpDir)).toEqual([]);
    expect(readdirSync(engine.layout.lockDir)).toEqual([]);
    expect(cleanup(engine)).toEqual({ tempDirs: 0, staleLocks: 0, cancelledBuilds: 0, invalidPaths: 0 });

    const r = await build(engine, graph(d), [d]);
    expect(r.result.status).toBe("built");
    expect(existsSync(join(r.result.outputs.get(derivationHash(d))!.out!, "whole"))).toBe(true);
    expect(engine.store.verifySync({})).toEqual([]);
    engine.close();
  });
});

describe("startup cleanup", () => {
  it("removes a dead process's temp dirs, stale locks and an output it moved in but never registered", async () => {
    const { mkdirSync: mk, writeFileSync: wf } = await import("node:fs");
    const home = join(tempDir(), "home");
    const engine = openEngine(home);
    const d = shDrv("kept", "echo keep > $out");
    const r = await build(engine, graph(d), [d]);
    const kept = r.result.outputs.get(derivationHash(d))!.out!;
    // A pid that cannot be alive: above the kernel's pid_max.
    const dead = 4194304 + 17;
    mk(join(engine.layout.tmpDir, `${dead}-b9-abcd`, "build"), { recursive: true });
    wf(join(engine.layout.lockDir, "drv-x.lock"), `${dead}\n`);
    const orphan = join(engine.store.dir, `${"a".repeat(32)}-orphan`);
    mk(orphan);
    wf(join(orphan, "f"), "complete but unregistered\n");
    engine.close();

    const again = openEngine(home);
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(kept)).toBe(true);
    expect(readdirSync(again.layout.tmpDir)).toEqual([]);
    expect(readdirSync(again.layout.lockDir)).toEqual([]);
    expect(again.store.verifySync({})).toEqual([]);
    again.close();
  });
});
