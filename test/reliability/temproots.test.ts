// gc honours temporary roots: while `bramble run` runs a program, gc keeps the program's
// outputs even once no evaluation roots them any more (the project changed and was evaluated
// again); when the program ends, the next gc removes them. A dead process's roots are dropped.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { addTempRoots, readTempRoots, releaseAll } from "../../core/store/temp-roots.js";
import { bramble, cli, ensureCli, freshHome } from "../helpers/cli.js";

function project(word: string): string {
  return `def default():\n    return derivation(name = "waiter", builder = "/bin/sh", args = ["-c", "mkdir -p $out/bin; printf '#!/bin/sh\\\\necho ${word}\\\\nread x\\\\n' > $out/bin/prog; chmod +x $out/bin/prog"])\n`;
}

describe("temporary gc roots", () => {
  it("keep a running program's outputs through gc, and let them go after", async () => {
    ensureCli();
    const home = freshHome();
    const dir = mkdtempSync(join(tmpdir(), "bramble-temproot-"));
    writeFileSync(join(dir, "bramble.toml"), '[package]\nname = "waiter"\nversion = "0.1.0"\n[build]\nsandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n');
    writeFileSync(join(dir, "default.bramble"), project("first"));
    const child = spawn(process.execPath, [cli, "run", ".:default", "prog"], {
      cwd: dir,
      env: { ...process.env, BRAMBLE_PATH: home },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d) => {
        out += d;
        if (/first/.test(out)) resolve();
      });
      child.on("exit", (code) => reject(new Error(`bramble run exited ${code}: ${err}`)));
    });
    const store = readdirSync(home).find((e) => e.startsWith("store"))!;
    const waiter = readdirSync(join(home, store)).find((e) => e.endsWith("-waiter"))!;
    expect(waiter).toBeDefined();
    // The project changes; its new evaluation no longer roots the running program's output.
    writeFileSync(join(dir, "default.bramble"), project("second"));
    expect(bramble(["graph", ".:default"], { home, cwd: dir }).code).toBe(0);
    const during = bramble(["gc"], { home, cwd: dir });
    expect(during.code, during.stderr).toBe(0);
    expect(existsSync(join(home, store, waiter))).toBe(true);
    child.stdin.end("\n");
    await new Promise((r) => child.on("exit", r));
    const after = bramble(["gc"], { home, cwd: dir });
    expect(after.code, after.stderr).toBe(0);
    expect(existsSync(join(home, store, waiter))).toBe(false);
  });

  it("are dropped with the process that held them", () => {
    const varDir = mkdtempSync(join(tmpdir(), "bramble-var-"));
    const release = addTempRoots(varDir, ["aaaa-x", "bbbb-y"]);
    const other = addTempRoots(varDir, ["cccc-z"]);
    expect(readTempRoots(varDir).sort()).toEqual(["aaaa-x", "bbbb-y", "cccc-z"]);
    release();
    expect(readTempRoots(varDir)).toEqual(["cccc-z"]);
    other();
    mkdirSync(join(varDir, "temproots"), { recursive: true });
    // pid 2^22+1 is above Linux's pid_max: never a live process.
    writeFileSync(join(varDir, "temproots", String(4194305)), "dddd-dead\n");
    expect(readTempRoots(varDir)).toEqual([]);
    expect(readdirSync(join(varDir, "temproots"))).toEqual([]);
  });

  it("released together (a run's end) are all gone at once, and what another holder keeps stays", () => {
    const varDir = mkdtempSync(join(tmpdir(), "bramble-var-"));
    const keep = addTempRoots(varDir, ["kkkk-kept"]);
    const held = Array.from({ length: 3000 }, (_, i) => addTempRoots(varDir, [`${String(i).padStart(4, "0")}-out`, "kkkk-kept"]));
    expect(readTempRoots(varDir)).toHaveLength(3001);
    releaseAll(held);
    expect(readTempRoots(varDir)).toEqual(["kkkk-kept"]);
    keep();
    expect(readTempRoots(varDir)).toEqual([]);
  });
});
