// The engine's CLI commands against a real store: log, history, why-depends, gc, store
// path/verify/copy, with their exit codes.
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command, CommanderError } from "commander";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { derivationHash } from "../../core/derivation/derivation.js";
import { openEngine, type Engine } from "../../core/build/engine.js";
import { registerEngineCommands } from "../../core/cli/engine-commands.js";
import { build, cleanupTemps, graph, ref, shDrv, tempDir } from "./helpers.js";

let home = "";
let out: string[] = [];
let err: string[] = [];

/** Run a command as the CLI's main does: CommanderError → its exit code, other errors → 1. */
async function bramble(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  out = [];
  err = [];
  const program = new Command().exitOverride();
  registerEngineCommands(program);
  let code = 0;
  try {
    await program.parseAsync(["node", "bramble", ...args]);
  } catch (e) {
    if (e instanceof CommanderError) code = e.exitCode;
    else {
      err.push((e as Error).message);
      code = 1;
    }
  }
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

beforeEach(() => {
  home = join(tempDir(), "home");
  process.env.BRAMBLE_PATH = home;
  vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void err.push(a.join(" ")));
  vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
    out.push(String(s).replace(/\n$/, ""));
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  delete process.env.BRAMBLE_PATH;
  cleanupTemps();
});

async function setup(): Promise<{
  engine: Engine;
  a: ReturnType<typeof shDrv>;
  b: ReturnType<typeof shDrv>;
  orphan: ReturnType<typeof shDrv>;
  paths: Record<string, string>;
}> {
  const engine = openEngine(home);
  const a = shDrv("liba", "mkdir $out; echo lib > $out/lib; echo building liba");
  const b = shDrv("app", `mkdir $out; echo ${ref(a)}/lib > $out/uses`);
  const orphan = shDrv("orphan", "echo unused > $out");
  const drvs = graph(a, b, orphan);
  const r = await build(engine, drvs, [b, orphan]);
  expect(r.result.status).toBe("built");
  engine.db.recordEvaluation({ project: "/p", moduleArg: "./:default", target: a.system, roots: [derivationHash(b)], drvs: graph(a, b) });
  const paths = Object.fromEntries([a, b, orphan].map((d) => [d.name, r.result.outputs.get(derivationHash(d))!.out!]));
  return { engine, a, b, orphan, paths };
}

describe("engine commands", () => {
  it("log, history and store path", async () => {
    const { engine, paths } = await setup();
    expect((await bramble("log", "liba")).stdout).toBe("building liba");
    const build = engine.db.lastBuildOf("liba")!;
    expect((await bramble("log", String(build.id))).stdout).toBe("building liba");
    expect((await bramble("log", build.drvHash.slice(0, 8))).stdout).toBe("building liba");
    expect((await bramble("log", "nothing-like-this")).code).toBe(1);
    const h = await bramble("history");
    expect(h.stdout.split("\n")).toHaveLength(3);
    expect(h.stdout).toContain("built");
    expect(JSON.parse((await bramble("history", "--json", "-n", "1")).stdout)).toHaveLength(1);
    expect((await bramble("history", "-n", "zero")).code).toBe(2);
    expect((await bramble("store", "path")).stdout).toBe(engine.store.dir);
    expect((await bramble("store", "path", "app")).stdout).toBe(paths.app);
    engine.close();
  });

  it("why-depends follows references", async () => {
    const { engine, paths } = await setup();
    const r = await bramble("why-depends", "app", paths.liba!);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")).toEqual([paths.app, `└───${paths.liba}`]);
    expect((await bramble("why-depends", "liba", "app")).code).toBe(1);
    engine.close();
  });

  it("gc keeps the latest evaluation's closure and deletes the rest; --dry-run only lists", async () => {
    const { engine, paths } = await setup();
    const dry = await bramble("gc", "--dry-run");
    expect(dry.stdout).toContain(`would delete ${paths.orphan}`);
    expect(dry.stdout).not.toContain(paths.app!);
    expect(dry.stdout).toMatch(/would free \d+ B \(\d+ paths\)/);
    expect(existsSync(paths.orphan!)).toBe(true);
    const real = await bramble("gc");
    expect(real.stdout).toContain(`deleted ${paths.orphan}`);
    expect(existsSync(paths.orphan!)).toBe(false);
    expect(existsSync(paths.app!)).toBe(true);
    expect(existsSync(paths.liba!)).toBe(true);
    expect(engine.store.has(paths.orphan!.slice(engine.store.dir.length + 1))).toBe(false);
    // An explicit root keeps a path too.
    engine.close();
  });

  it("store verify finds corruption and --repair removes it and what depends on it", async () => {
    const { engine, a, b, paths } = await setup();
    expect((await bramble("store", "verify")).code).toBe(0);
    chmodSync(paths.liba!, 0o755);
    chmodSync(join(paths.liba!, "lib"), 0o644);
    writeFileSync(join(paths.liba!, "lib"), "tampered\n");
    const v = await bramble("store", "verify");
    expect(v.code).toBe(1);
    expect(v.stdout).toContain(`corrupt: ${paths.liba}`);
    expect(v.stdout).toContain(`incomplete-closure: ${paths.app}`);
    const fix = await bramble("store", "verify", "--repair");
    expect(fix.code).toBe(0);
    expect(existsSync(paths.liba!)).toBe(false);
    expect((await bramble("store", "verify")).code).toBe(0);
    const again = await build(engine, graph(a, b), [b]);
    expect(again.result.status).toBe("built");
    expect(again.result.outputs.get(derivationHash(b))!.out).toBe(paths.app);
    engine.close();
  });

  it("store copy moves a closure to another store, relocated, with the same hashes", async () => {
    const { engine, paths } = await setup();
    const other = join(tempDir(), "elsewhere-with-a-longer-name");
    const r = await bramble("store", "copy", "--from", "local", "--to", `path:${other}`, "app");
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("2 paths copied");
    const e2 = openEngine(other);
    const name = paths.app!.slice(engine.store.dir.length + 1);
    expect(e2.store.has(name)).toBe(true);
    expect(e2.store.queryPathInfo(name)!.hash).toBe(engine.store.queryPathInfo(name)!.hash);
    // The reference inside was rewritten to the other store's directory.
    const { readFileSync } = await import("node:fs");
    expect(readFileSync(join(e2.store.path(name), "uses"), "utf8")).toBe(`${e2.store.dir}/${paths.liba!.slice(engine.store.dir.length + 1)}/lib\n`);
    expect(e2.store.verifySync({})).toEqual([]);
    e2.close();
    const bad = await bramble("store", "copy", "--from", "nosuch", "--to", "local", "app");
    expect(bad.stderr).toContain("unknown store nosuch");
    expect(bad.code).toBe(2);
    engine.close();
  });

  it("log -f follows a running build to its end", async () => {
    const engine = openEngine(home);
    const d = shDrv("ticker", "for i in 1 2 3; do echo tick $i; sleep 0.3; done; echo > $out");
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const p = build(engine, graph(d), [d]);
    const poll = setInterval(() => {
      if (engine.db.lastBuildOf("ticker")) started();
    }, 20);
    await running;
    clearInterval(poll);
    const r = await bramble("log", "-f", "ticker");
    expect(r.stdout.split("\n")).toEqual(["tick 1", "tick 2", "tick 3"]);
    await p;
    engine.close();
  });
});
