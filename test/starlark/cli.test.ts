// `bramble starlark` as starlark-go's command: -c, dialect options, load() relative to the
// loading file, and -test (the assert module and chunked files).
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { starlarkMain } from "../../core/starlark/cli.js";

function run(...args: string[]): { code: number; out: string; err: string } {
  let out = "",
    err = "";
  const code = starlarkMain(args, { write: (s: string) => (out += s) }, { write: (s: string) => (err += s) });
  return { code, out, err };
}

describe("bramble starlark", () => {
  it("-c runs a program named cmdline", () => {
    expect(run("-c", "print(1 + 2)")).toEqual({ code: 0, out: "3\n", err: "" });
    const r = run("-c", "x = 1\nx = 2");
    expect(r.code).toBe(1);
    expect(r.err.split("\n")[0]).toBe("cmdline:2:1: cannot reassign global x declared at cmdline:1:1");
  });
  it("dialect options as starlark-go spells them, with one or two dashes", () => {
    const prog = "def f(n):\n    return 1 if n == 0 else n * f(n - 1)\nprint(f(5))";
    expect(run("-c", prog).err.split("\n")[0]).toBe("cmdline:2:34: function f called recursively");
    expect(run("-recursion", "-c", prog).out).toBe("120\n");
    expect(run("--recursion", "-c", prog).out).toBe("120\n");
    expect(run("-globalreassign", "-c", "x = 1\nx = 2\nfor i in [3]:\n    print(x + i)").out).toBe("5\n");
    expect(run("-toplevelcontrol", "-c", "if True:\n    print(1)").out).toBe("1\n");
    expect(run("-set=false", "-c", "set()").err.split("\n")[0]).toBe("cmdline:1:1: this Starlark dialect does not support sets");
    expect(run("-nosuch", "-c", "1").code).toBe(2);
  });
  it("load() reads files relative to the loading file", () => {
    const dir = mkdtempSync(join(tmpdir(), "starlark-cli-"));
    mkdirSync(join(dir, "lib"));
    writeFileSync(join(dir, "lib/a.star"), 'load("b.star", "b")\na = b + 1\n');
    writeFileSync(join(dir, "lib/b.star"), "b = 41\n");
    writeFileSync(join(dir, "main.star"), 'load("lib/a.star", "a")\nprint(a)\n');
    expect(run(join(dir, "main.star"))).toEqual({ code: 0, out: "42\n", err: "" });
    writeFileSync(join(dir, "cycle.star"), 'load("cycle.star", "x")\n');
    expect(run(join(dir, "cycle.star")).err).toContain("cycle in load graph");
  });
  it("-test provides assert, catch and matches, and runs chunks", () => {
    const dir = mkdtempSync(join(tmpdir(), "starlark-cli-"));
    writeFileSync(
      join(dir, "t.star"),
      [
        "assert.eq(1 + 1, 2)",
        'assert.fails(lambda: 1 // 0, "division by zero")',
        'assert.eq(catch(lambda: [][1]), "index 1 out of range: empty list")',
        'assert.true(matches("a+", "caab"))',
        "---",
        "x = 1 +  ### got end of file, want primary expression",
      ].join("\n"),
    );
    expect(run("-test", join(dir, "t.star"))).toEqual({ code: 0, out: "2 passed, 0 failed\n", err: "" });
    writeFileSync(join(dir, "bad.star"), "assert.eq(1, 2)\nassert.lt(2, 1)\n");
    const r = run("-test", join(dir, "bad.star"));
    expect(r.code).toBe(1);
    expect(r.err).toContain("bad.star:1:10: 1 != 2");
    expect(r.err).toContain("bad.star:2:10: 2 is not less than 1");
  });
});

describe("bramble starlark -test with load()", () => {
  it("loads files relative to the test file, in every chunk", () => {
    const dir = mkdtempSync(join(tmpdir(), "starlark-cli-"));
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "sub/lib.star"), "v = 41\n");
    writeFileSync(join(dir, "t.star"), 'load("sub/lib.star", "v")\nassert.eq(v + 1, 42)\n---\nload("sub/lib.star", "v")\nx = v.nope ### has no .nope field\n');
    expect(run("-test", join(dir, "t.star"))).toEqual({ code: 0, out: "2 passed, 0 failed\n", err: "" });
  });
});

describe("load() bindings and global reassignment (results of starlark-go's command)", () => {
  const dir = mkdtempSync(join(tmpdir(), "starlark-cli-"));
  writeFileSync(join(dir, "m.star"), "x = 1\n");
  const file = (name: string, src: string) => {
    writeFileSync(join(dir, name), src);
    return join(dir, name);
  };
  it("a loaded name is rebound only with -globalreassign", () => {
    const f = file("a.star", 'load("m.star", "x")\nx = 2\nprint(x)\n');
    expect(run(f).err.split("\n")[0]).toBe(`${f}:2:1: cannot reassign local x declared at ${f}:1:17`);
    expect(run("-globalreassign", f).out).toBe("2\n");
  });
  it("a load may shadow an earlier global; loading a name twice needs -globalreassign", () => {
    expect(run(file("b.star", 'x = 2\nload("m.star", "x")\nprint(x)\n')).out).toBe("1\n");
    const f = file("c.star", 'load("m.star", "x")\nload("m.star", "x")\nprint(x)\n');
    expect(run(f).err.split("\n")[0]).toBe(`${f}:2:17: cannot reassign top-level x`);
    expect(run("-globalreassign", f).out).toBe("1\n");
  });
});

describe("deep recursion", () => {
  it("is a Starlark error with a short traceback, not a JavaScript crash", () => {
    const r = run("-recursion", "-c", "def f(n):\n    return f(n + 1)\nf(0)");
    expect(r.code).toBe(1);
    expect(r.err.split("\n")[0]).toBe("cmdline:2:13: stack overflow: Starlark call stack (or expression nesting) too deep");
    expect(r.err).toMatch(/\n {2}cmdline:2:13: in f\n {2}\[Previous line repeated \d+ more times\]\n?$/);
    expect(r.err.split("\n").length).toBeLessThan(12);
  });
  it("goes a few thousand calls deep", () => {
    expect(run("-recursion", "-c", "def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\nprint(f(1500))").out).toBe("1500\n");
  });
});

describe("bramble starlark -recursion, as a user runs it", () => {
  it("recurses 100,000 calls deep, as starlark-go can (a worker thread with a large stack)", async () => {
    const { spawnSync } = await import("node:child_process");
    const repo = join(import.meta.dirname, "../..");
    const build = spawnSync(process.execPath, [join(repo, "scripts/build.mjs"), "cli"], { cwd: repo, stdio: "inherit" });
    expect(build.status).toBe(0);
    // runs here first and again in the worker once JavaScript's stack runs out: what the first
    // run printed ("before", "é€😀") is printed once
    const prog = 'print("before")\nprint("é€😀")\ndef f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\nprint(f(100000))\nprint([1][5])';
    for (const entry of ["bin/bramble.mjs", "dist/cli.mjs"]) {
      const r = spawnSync(process.execPath, [join(repo, entry), "starlark", "-recursion", "-c", prog], { encoding: "utf8" });
      expect(r.stdout).toBe("before\né€😀\n100000\n");
      expect(r.stderr.split("\n")[0]).toBe("cmdline:6:10: list index 5 out of range [-1:0]");
      expect(r.status).toBe(1);
    }
  }, 120_000);
});
