// SIGINT and SIGTERM always end the CLI, also in the middle of an evaluation that would
// never end by itself; an evaluation stops at its step or time budget with the file and line
// where it was; a FIFO or /dev/zero as a module is an error, not a hang. Real processes.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bramble, cli, ensureCli, freshHome } from "../helpers/cli.js";

/** A project whose default() prints "looping" and then loops forever on line 5. */
function loopProject(): string {
  const dir = mkdtempSync(join(tmpdir(), "bramble-loop-"));
  writeFileSync(join(dir, "bramble.toml"), '[package]\nname = "loop"\nversion = "0.1.0"\n');
  writeFileSync(join(dir, "default.bramble"), 'def default():\n    print("looping")\n    x = 0\n    while True:\n        x += 1\n    return []\n');
  return dir;
}

/** Starts `bramble <args>` in `dir`, waits until the evaluation prints "looping", sends `signal`, and returns how it ended. */
async function signalDuringEvaluation(args: string[], dir: string, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  ensureCli();
  const child = spawn(process.execPath, [cli, ...args], {
    cwd: dir,
    env: { ...process.env, BRAMBLE_PATH: freshHome(), BRAMBLE_EVAL_TIMEOUT: "3600", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on("exit", (code, sig) => r({ code, signal: sig })));
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d;
      if (/looping/.test(out)) resolve();
    });
    child.on("exit", (code) => reject(new Error(`bramble exited (${code}) before it evaluated`)));
  });
  child.kill(signal);
  return exited;
}

describe("signals end the CLI during an endless evaluation", () => {
  for (const [command, signal] of [
    ["graph", "SIGINT"],
    ["graph", "SIGTERM"],
    ["build", "SIGINT"],
    ["build", "SIGTERM"],
  ] as const) {
    it(`bramble ${command} ends on ${signal}`, async () => {
      const ended = await signalDuringEvaluation([command, ".:default"], loopProject(), signal);
      expect(ended).toEqual({ code: null, signal });
    });
  }
});

describe("evaluation budgets", () => {
  it("stops at the time budget, naming the file and the line of the loop", () => {
    const dir = loopProject();
    const r = bramble(["graph", ".:default"], { home: freshHome(), cwd: dir, env: { BRAMBLE_EVAL_TIMEOUT: "1" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${join(dir, "default.bramble")}:[45]:\\d+: evaluation stopped: it ran longer than its time budget of 1 s`));
  });

  it("stops at the step budget, naming the file and the line of the loop", () => {
    const dir = loopProject();
    const r = bramble(["graph", ".:default"], { home: freshHome(), cwd: dir, env: { BRAMBLE_EVAL_STEPS: "50000" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${join(dir, "default.bramble")}:[45]:\\d+: evaluation stopped: it took more than its budget of 50000 steps`));
  });

  it("applies to the verbs that evaluate outside the service too (bramble test, bramble shell)", () => {
    const dir = loopProject();
    for (const verb of [
      ["test", ".:default"],
      ["shell", ".:default"],
    ]) {
      const r = bramble(verb, { home: freshHome(), cwd: dir, env: { BRAMBLE_EVAL_STEPS: "50000" } });
      expect(r.code, verb.join(" ")).not.toBe(0);
      expect(r.stderr).toMatch(/evaluation stopped: it took more than its budget of 50000 steps/);
    }
  });

  it("refuses a bad budget setting with a message naming it", () => {
    const r = bramble(["graph", ".:default"], { home: freshHome(), cwd: loopProject(), env: { BRAMBLE_EVAL_TIMEOUT: "soon" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/BRAMBLE_EVAL_TIMEOUT must be a positive number of seconds, not "soon"/);
  });
});

describe("modules that are not files", () => {
  it("a FIFO or /dev/zero as a module is an error naming it", () => {
    const dir = mkdtempSync(join(tmpdir(), "bramble-fifo-"));
    writeFileSync(join(dir, "bramble.toml"), '[package]\nname = "dev"\nversion = "0.1.0"\n');
    writeFileSync(join(dir, "default.bramble"), 'load("dev/pipe", "x")\ndef default():\n    return []\n');
    writeFileSync(join(dir, "zero.bramble"), 'load("dev/nul", "x")\ndef default():\n    return []\n');
    expect(spawnSync("mkfifo", [join(dir, "pipe.bramble")]).status).toBe(0);
    symlinkSync("/dev/zero", join(dir, "nul.bramble"));
    const fifo = bramble(["graph", ".:default"], { home: freshHome(), cwd: dir, timeoutMs: 30_000 });
    expect(fifo.code).toBe(1);
    expect(fifo.stderr).toMatch(/cannot read .*pipe\.bramble: this module is a FIFO, not a regular file/);
    const zero = bramble(["graph", "./zero:default"], { home: freshHome(), cwd: dir, timeoutMs: 30_000 });
    expect(zero.code).toBe(1);
    expect(zero.stderr).toMatch(/cannot read .*nul\.bramble: this module is a character device, not a regular file/);
  });

  it("a FIFO or a character device as a source is an error naming it", () => {
    const dir = mkdtempSync(join(tmpdir(), "bramble-srcdev-"));
    writeFileSync(join(dir, "bramble.toml"), '[package]\nname = "src"\nversion = "0.1.0"\n');
    writeFileSync(
      join(dir, "default.bramble"),
      'def pipe():\n    return derivation(name = "p", builder = "/bin/sh", args = ["-c", "cat pipe > $out"], sources = ["pipe"])\n' +
        'def zero():\n    return derivation(name = "z", builder = "/bin/sh", args = ["-c", "true"], sources = ["zero"])\n',
    );
    expect(spawnSync("mkfifo", [join(dir, "pipe")]).status).toBe(0);
    expect(spawnSync("mknod", [join(dir, "zero"), "c", "1", "5"]).status).toBe(0);
    for (const [fn, name] of [
      ["pipe", "pipe"],
      ["zero", "zero"],
    ]) {
      const r = bramble(["graph", `.:${fn}`], { home: freshHome(), cwd: dir, timeoutMs: 30_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`source ${name} is not a regular file or symlink`));
    }
  });
});
