// gc runs beside builds, shells and programs, and keeps what they hold as temporary roots
// (core/store/temp-roots.ts): a running build's inputs built before and the outputs it has just
// registered, `bramble shell`'s inputs; a process that died holds nothing. Real processes: the
// built CLI, bwrap sandboxes, the store's SQLite DB. Each path checked here is rooted by nothing
// else: the project is changed and evaluated again before gc runs.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { addTempRoots, readTempRoots } from "../../core/store/temp-roots.js";
import { bramble, cli, ensureCli, freshHome } from "../helpers/cli.js";

const TOML = (extra: string[]) =>
  `[package]\nname = "held"\nversion = "0.1.0"\n[build]\nsandbox_paths = ${JSON.stringify(["/bin", "/usr", "/lib", "/lib64", ...extra])}\n`;

// Every CLI a test starts is killed after it, so one that failed or timed out while a build waits
// on its gate leaves no process behind (one did, for an hour, holding its sandbox).
const started: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

function start(args: string[], home: string, cwd: string): { child: ChildProcessWithoutNullStreams; out: () => string; exit: Promise<number> } {
  const child = spawn(process.execPath, [cli, ...args], { cwd, env: { ...process.env, BRAMBLE_PATH: home, NO_COLOR: "1" }, stdio: ["pipe", "pipe", "pipe"] });
  started.push(child);
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exit = new Promise<number>((r) => child.on("exit", (code, signal) => r(code ?? (signal ? 128 : -1))));
  return { child, out: () => out, exit };
}

async function until(what: string, cond: () => boolean, exited?: Promise<number>): Promise<void> {
  let gone = false;
  void exited?.then(() => (gone = true));
  while (!cond()) {
    if (gone) throw new Error(`the process ended before ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function storeEntries(home: string): { dir: string; names: string[] } {
  const store = readdirSync(home).find((e) => e.startsWith("store"))!;
  const dir = join(home, store);
  return { dir, names: readdirSync(dir) };
}

describe("gc and temporary roots", () => {
  it("runs during a build, which goes on with its inputs intact: the ones built before and the ones it just made", async () => {
    ensureCli();
    const home = freshHome();
    const dir = mkdtempSync(join(tmpdir(), "bramble-gc-build-"));
    const gate = mkdtempSync(join(tmpdir(), "bramble-gate-"));
    writeFileSync(join(dir, "bramble.toml"), TOML([gate]));
    const v1 = `def _dep():
    return derivation(name = "olddep", builder = "/bin/sh", args = ["-c", "echo dep > $out"])

def dep():
    return _dep()

def junk():
    return derivation(name = "junk", builder = "/bin/sh", args = ["-c", "echo junk > $out"])

def default():
    d = _dep()
    mid = derivation(name = "newmid", builder = "/bin/sh", args = ["-c", "echo mid > $out"])
    return derivation(name = "slow", builder = "/bin/sh", args = ["-c", "while [ ! -e ${gate}/go ]; do sleep 0.1; done; cat " + str(d) + " " + str(mid) + " > $out"])
`;
    writeFileSync(join(dir, "default.bramble"), v1);
    expect(bramble(["allow-paths", dir], { home, cwd: dir }).code).toBe(0);
    for (const fn of ["dep", "junk"]) {
      const r = bramble(["build", `.:${fn}`], { home, cwd: dir });
      expect(r.code, r.stderr).toBe(0);
    }
    const { dir: storeDir } = storeEntries(home);
    const named = (suffix: string) => readdirSync(storeDir).find((e) => e.endsWith(suffix));
    const dep = named("-olddep")!;
    const junk = named("-junk")!;
    expect(dep).toBeDefined();
    expect(junk).toBeDefined();

    const build = start(["build", ".:default"], home, dir);
    // newmid is built and registered by the running build; slow waits at the gate.
    await until("newmid was built", () => named("-newmid") !== undefined, build.exit);
    const mid = named("-newmid")!;
    // The project changes: no evaluation roots olddep, junk, newmid or slow any more.
    writeFileSync(
      join(dir, "default.bramble"),
      `def dep():\n    return derivation(name = "other", builder = "/bin/sh", args = ["-c", "echo 1 > $out"])\n\ndef junk():\n    return dep()\n\ndef default():\n    return dep()\n`,
    );
    for (const fn of ["dep", "junk", "default"]) expect(bramble(["graph", `.:${fn}`], { home, cwd: dir }).code).toBe(0);

    const gc = bramble(["gc"], { home, cwd: dir });
    expect(gc.code, gc.stderr).toBe(0);
    // gc did run: junk, held by nothing, is gone; the build's input and its new output stay.
    expect(gc.stdout).toContain(junk);
    expect(existsSync(join(storeDir, junk))).toBe(false);
    expect(existsSync(join(storeDir, dep))).toBe(true);
    expect(existsSync(join(storeDir, mid))).toBe(true);
    expect(build.child.exitCode).toBe(null);

    writeFileSync(join(gate, "go"), "");
    expect(await build.exit, build.out()).toBe(0);
    const slow = named("-slow")!;
    expect(readFileSync(join(storeDir, slow), "utf8")).toBe("dep\nmid\n");
    // The build's process ended: what it held goes at the next gc.
    const after = bramble(["gc"], { home, cwd: dir });
    expect(after.code, after.stderr).toBe(0);
    for (const n of [dep, mid, slow]) expect(existsSync(join(storeDir, n)), n).toBe(false);
  });

  it("keeps what an open `bramble shell` uses, and what a killed process held stops counting", async () => {
    ensureCli();
    const home = freshHome();
    const dir = mkdtempSync(join(tmpdir(), "bramble-gc-shell-"));
    writeFileSync(join(dir, "bramble.toml"), TOML([]));
    writeFileSync(
      join(dir, "default.bramble"),
      `def default():
    tool = derivation(name = "shelltool", builder = "/bin/sh", args = ["-c", "echo tool > $out"])
    return derivation(name = "user", builder = "/bin/sh", args = ["-c", "cat " + str(tool) + " > $out"])
`,
    );
    expect(bramble(["allow-paths", dir], { home, cwd: dir }).code).toBe(0);
    const built = bramble(["build", ".:default"], { home, cwd: dir });
    expect(built.code, built.stderr).toBe(0);
    const { dir: storeDir, names } = storeEntries(home);
    const tool = names.find((e) => e.endsWith("-shelltool"))!;
    const user = names.find((e) => e.endsWith("-user"))!;

    const shell = start(["shell", "user"], home, dir);
    shell.child.stdin.write("echo ready\n");
    await until("the shell answered", () => shell.out().includes("ready"), shell.exit);
    writeFileSync(join(dir, "default.bramble"), `def default():\n    return derivation(name = "other", builder = "/bin/sh", args = ["-c", "echo 1 > $out"])\n`);
    expect(bramble(["graph", ".:default"], { home, cwd: dir }).code).toBe(0);
    const during = bramble(["gc"], { home, cwd: dir });
    expect(during.code, during.stderr).toBe(0);
    // The shell's input stays; the output of the derivation it opened, which it does not use, goes.
    expect(existsSync(join(storeDir, tool))).toBe(true);
    expect(existsSync(join(storeDir, user))).toBe(false);

    // Killed: no chance to release its roots; its file stays until a gc finds it dead.
    shell.child.kill("SIGKILL");
    await shell.exit;
    const tempRoots = join(home, "var", "temproots");
    expect(readdirSync(tempRoots).length).toBeGreaterThan(0);
    const after = bramble(["gc"], { home, cwd: dir });
    expect(after.code, after.stderr).toBe(0);
    expect(existsSync(join(storeDir, tool))).toBe(false);
    expect(readdirSync(tempRoots)).toEqual([]);
  });

  it("a root file counts only for the live process that wrote it: a pid taken by another process later holds nothing", () => {
    const varDir = mkdtempSync(join(tmpdir(), "bramble-var-"));
    const release = addTempRoots(varDir, ["aaaa-mine"]);
    const again = addTempRoots(varDir, ["aaaa-mine", "bbbb-too"]);
    // This process's pid with another start time: a process that had this pid before.
    mkdirSync(join(varDir, "temproots"), { recursive: true });
    writeFileSync(join(varDir, "temproots", `${process.pid}-1`), "cccc-reused\n");
    // pid 2^22+1 is above Linux's pid_max: never a live process.
    writeFileSync(join(varDir, "temproots", "4194305-1"), "dddd-dead\n");
    expect(readTempRoots(varDir).sort()).toEqual(["aaaa-mine", "bbbb-too"]);
    expect(readdirSync(join(varDir, "temproots")).filter((e) => !e.startsWith(`${process.pid}-`) || e === `${process.pid}-1`)).toEqual([]);
    // Two holders of one name: it stays until both let go.
    release();
    expect(readTempRoots(varDir).sort()).toEqual(["aaaa-mine", "bbbb-too"]);
    again();
    expect(readTempRoots(varDir)).toEqual([]);
  });
});
