// Evaluating projects: loads, builtins, derivation values, errors at the caller's
// position, and one tree evaluated for two targets.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { outputTemplate } from "../../core/derivation/derivation.js";
import { createContext, evaluate, type Evaluation } from "../../core/project/evaluate.js";
import { readProject } from "../../core/project/project.js";
import { BRAMBLE_DIALECT, DEFAULT_DIALECT, StarlarkError, Thread, execFile } from "../../core/starlark/index.js";

function project(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "bramble-eval-"));
  for (const [path, text] of Object.entries({ "bramble.toml": '[package]\nname = "proj"\n', ...files })) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function run(root: string, arg: string, target?: string): Evaluation {
  return evaluate(createContext(readProject(root), { target, host: "x86_64-linux" }), [arg], root);
}

function errorOf(fn: () => unknown): StarlarkError {
  try {
    fn();
  } catch (err) {
    if (err instanceof StarlarkError) return err;
    throw err;
  }
  throw new Error("expected a Starlark error");
}

const sh = 'builder = "/bin/sh"';

describe("derivation()", () => {
  it("returns a value whose outputs are templates and whose str is the first output", () => {
    const root = project({
      "default.bramble": `
def f():
    d = derivation(name = "d", ${sh}, outputs = ["out", "dev"])
    return derivation(name = "e", ${sh}, args = [d.out, d.dev, str(d), d.name], env = {"D": d})
`,
    });
    const ev = run(root, ".:f");
    const e = ev.drvs.get(ev.roots[0]!)!;
    const dHash = [...ev.drvs.keys()].find((h) => ev.drvs.get(h)!.name === "d")!;
    expect(e.args).toEqual([outputTemplate(dHash, "out"), outputTemplate(dHash, "dev"), outputTemplate(dHash, "out"), "d"]);
    expect(e.env).toEqual({ D: outputTemplate(dHash, "out") });
    expect(ev.drvs.size).toBe(2);
  });

  it("defaults platform to the host and system to the platform; target= is system=", () => {
    const root = project({
      "default.bramble": `
def f():
    return [
        derivation(name = "a", ${sh}),
        derivation(name = "b", ${sh}, system = "aarch64-linux"),
        derivation(name = "c", ${sh}, target = "aarch64-darwin"),
        derivation(name = "d", ${sh}, platform = "aarch64-linux"),
    ]
`,
    });
    const ev = run(root, ".:f");
    const by = Object.fromEntries([...ev.drvs.values()].map((d) => [d.name, [d.platform, d.system]]));
    expect(by).toEqual({
      a: ["x86_64-linux", "x86_64-linux"],
      b: ["x86_64-linux", "aarch64-linux"],
      c: ["x86_64-linux", "aarch64-darwin"],
      d: ["aarch64-linux", "aarch64-linux"],
    });
  });

  it("reports a wrong call at the caller's file, line and column", () => {
    const root = project({ "default.bramble": `def f():\n    return derivation(name = "x", builder = 3)\n` });
    const err = errorOf(() => run(root, ".:f"));
    expect(err.pos).toMatchObject({ file: join(root, "default.bramble"), line: 2 });
    expect(err.format()).toMatch(/default\.bramble:2:\d+: derivation: builder must be a string, not int/);
  });

  it("rejects unknown systems with a suggestion, missing names, network without a hash", () => {
    const root = project({
      "default.bramble": `
def sys_typo():
    return derivation(name = "x", ${sh}, system = "x86-64-linux")
def no_name():
    return derivation(${sh})
def net():
    return derivation(name = "x", ${sh}, network = True)
def both():
    return derivation(name = "x", ${sh}, system = "aarch64-linux", target = "aarch64-linux")
`,
    });
    expect(errorOf(() => run(root, ".:sys_typo")).msg).toMatch(/unknown system "x86-64-linux"/);
    expect(errorOf(() => run(root, ".:no_name")).msg).toMatch(/missing argument for name/);
    expect(errorOf(() => run(root, ".:net")).msg).toMatch(/network=True needs hash=/);
    expect(errorOf(() => run(root, ".:both")).msg).toMatch(/not both/);
  });
});

describe("load()", () => {
  const root = project({
    "lib/default.bramble": `def tool():\n    return derivation(name = "tool", ${sh})\nVERSION = "1"\n`,
    "util.bramble": `def helper():\n    return "h"\n`,
    "default.bramble": `
load("proj/lib")
load(u = "proj/util")
load("proj/lib", "VERSION", t = "tool")

def f():
    return [lib.tool(), t()] if u.helper() == "h" and VERSION == "1" else []
`,
    "cycle_a.bramble": `load("proj/cycle_b")\ndef f():\n    pass\n`,
    "cycle_b.bramble": `load("proj/cycle_a")\n`,
    "missing.bramble": `\nload("proj/nothing")\n`,
    "unknown.bramble": `load("elsewhere/x")\n`,
  });

  it("binds a module by its last path segment, or by an alias, and plain Starlark loads work", () => {
    const ev = run(root, ".:f");
    expect([...ev.drvs.values()].map((d) => d.name)).toEqual(["tool"]);
  });

  it("names the load statement's file and line for a missing module, unknown package and a cycle", () => {
    const missing = errorOf(() => run(root, "./missing:f"));
    expect(missing.pos).toMatchObject({ file: join(root, "missing.bramble"), line: 2 });
    expect(missing.msg).toMatch(/no module "proj\/nothing"/);
    expect(missing.format()).toMatch(/^load\("proj\/nothing"\)$/m);
    const unknown = errorOf(() => run(root, "./unknown:f"));
    expect(unknown.msg).toMatch(/unknown package in "elsewhere\/x": no known package is "elsewhere\/x" or a prefix of it/);
    expect(unknown.pos?.line).toBe(1);
    expect(errorOf(() => run(root, "./cycle_a:f")).format()).toMatch(/cycle in load graph: cycle_a\.bramble -> cycle_b\.bramble -> cycle_a\.bramble/);
  });
});

describe("dependencies", () => {
  it("loads modules of a dependency by its local path, and says when a dependency cannot be fetched", () => {
    const lib = project({ "bramble.toml": '[package]\nname = "lib"\n', "tools/default.bramble": `def cc():\n    return derivation(name = "cc", ${sh})\n` });
    const root = project({
      "bramble.toml": `[package]\nname = "app"\n[dependencies]\nlib = { path = "${lib}" }\nremote = "1.0"\n`,
      "default.bramble": `load("lib/tools")\ndef f():\n    return tools.cc()\n`,
      "remote.bramble": `load("remote/x")\ndef f():\n    pass\n`,
    });
    expect([...run(root, ".:f").drvs.values()].map((d) => d.name)).toEqual(["cc"]);
    // Evaluated without the service, which fetches dependencies by version first (core/project/dependencies.ts).
    expect(errorOf(() => run(root, "./remote:f")).msg).toMatch(/dependency "remote" \(version 1.0\) is not fetched: this evaluation did not fetch/);
  });
});

describe("whole-module load is bramble's dialect, not plain Starlark's", () => {
  it("is a syntax error under the default dialect", () => {
    const thread = new Thread("t");
    const load = () => new Map();
    expect(() => execFile(thread, "t.star", 'load("a/b")\n', {}, { dialect: DEFAULT_DIALECT, load })).toThrow(/load statement must import at least 1 symbol/);
    expect(() => execFile(thread, "t.star", 'load(x = "a/b")\n', {}, { dialect: DEFAULT_DIALECT, load })).toThrow(
      /load statement must import at least 1 symbol/,
    );
    const globals = execFile(thread, "t.star", 'load("a/b-c")\nv = b_c.x\n', {}, { dialect: BRAMBLE_DIALECT, load: () => new Map([["x", 7]]) });
    expect(globals.get("v")).toBe(7);
  });
});

describe("files()", () => {
  const root = project({
    "src/a.c": "a",
    "src/sub/b.c": "b",
    "src/sub/c.h": "c",
    "src/nested/bramble.toml": '[package]\nname = "n"\n',
    "src/nested/x.c": "x",
    "src/default.bramble": `
def all_c():
    return files(["**/*.c"])
def no_headers():
    return files(["**"], exclude = ["**/*.h", "default.bramble"])
def none():
    return files(["*.rs"])
def escape():
    return files(["../*"])
def built():
    return derivation(name = "b", ${sh}, sources = files(["**/*.c"]))
`,
  });
  const evalBuilt = () => {
    const ctx = createContext(readProject(root), { host: "x86_64-linux" });
    evaluate(ctx, ["./src:built"], root);
    return ctx;
  };

  it("globs with ** relative to the calling file, skipping nested projects", () => {
    const ctx = evalBuilt();
    const drv = [...ctx.drvs.values()].find((d) => d.name === "b")!;
    expect(drv.sources).toMatchObject({ dir: "src", files: ["src/a.c", "src/sub/b.c"] });
    expect(drv.sources!.hash).toMatch(/^[0-9a-z]{32,}/);
  });

  it("errors on an empty match, and on patterns that leave the project", () => {
    expect(errorOf(() => run(root, "./src:none")).msg).toMatch(/files: no files match "\*\.rs"/);
    expect(errorOf(() => run(root, "./src:escape")).msg).toMatch(/must stay inside the project/);
  });

  it("changes the derivation hash when a source file changes", () => {
    const before = [...evalBuilt().drvs.entries()].find(([, d]) => d.name === "b")![0];
    writeFileSync(join(root, "src/a.c"), "changed");
    const after = [...evalBuilt().drvs.entries()].find(([, d]) => d.name === "b")![0];
    expect(after).not.toBe(before);
  });

  it("lists a symlink in the sources without following it", () => {
    symlinkSync("/etc/passwd", join(root, "src/link.c"));
    const drv = [...evalBuilt().drvs.values()].find((d) => d.name === "b")!;
    expect(drv.sources!.files).toContain("src/link.c");
  });
});

describe("sys, assert, run, test, fetches", () => {
  it("exposes sys and the assert module", () => {
    const root = project({
      "default.bramble": `
def f():
    assert.eq(sys.platform, "x86_64-linux")
    assert.eq(sys.target, "aarch64-linux")
    assert.eq(sys.os, "linux")
    assert.eq(sys.arch, "x86_64")
    assert.ne(1, 2)
    assert.true(True)
    assert.lt(1, 2)
    assert.contains([1, 2], 2)
    assert.fails(lambda: fail("boom"), "bo+m")
    return []
def bad():
    assert.eq([1], [2])
def bad_fails():
    assert.fails(lambda: 1, "x")
`,
    });
    expect(run(root, ".:f", "aarch64-linux").drvs.size).toBe(0);
    expect(errorOf(() => run(root, ".:bad")).msg).toMatch(/\[1\] != \[2\]/);
    expect(errorOf(() => run(root, ".:bad_fails")).msg).toMatch(/did not fail/);
  });

  it("makes fixed-output derivations for fetch_url and fetch_git, hash from the call or bramble.lock", () => {
    const root = project({
      "bramble.lock": '[urlhashes]\n"https://example.org/src.tar.gz" = "sha256:0000000000000000000000000000000000000000000000000000"\n',
      "default.bramble": `
def f():
    return [
        fetch_url("https://example.org/src.tar.gz"),
        fetch_git("file:///tmp/repo.git", ref = "main"),
        fetch_url("file:///tmp/x.txt", hash = "sha256:1111111111111111111111111111111111111111111111111111"),
    ]
def bad_url():
    return fetch_url("ftp://x")
`,
    });
    const ev = run(root, ".:f");
    const by = Object.fromEntries([...ev.drvs.values()].map((d) => [d.name, d]));
    expect(by["src.tar.gz"]).toMatchObject({ builder: "fetch_url", network: true, outputHash: "sha256:" + "0".repeat(52), system: "any" });
    expect(by["repo"]).toMatchObject({ builder: "fetch_git", env: { url: "file:///tmp/repo.git", ref: "main" } });
    expect(by["repo"]!.outputHash).toBeUndefined();
    expect(by["x.txt"]!.outputHash).toBe("sha256:" + "1".repeat(52));
    expect(errorOf(() => run(root, ".:bad_url")).msg).toMatch(/must start with http:\/\/, https:\/\/, file:\/\/ or mirror:\/\/<name>\//);
  });

  it("records run() and test() declarations", () => {
    const root = project({
      "default.bramble": `
def f():
    d = derivation(name = "d", ${sh})
    run(d, "bin/x", args = ["-v"])
    test(d, args = ["check"])
    return d
`,
    });
    const ev = run(root, ".:f");
    expect(ev.runs).toMatchObject([{ cmd: "bin/x", args: ["-v"] }]);
    expect(ev.tests).toMatchObject([{ args: ["check"] }]);
  });
});

describe("retargeting", () => {
  const root = project({
    "default.bramble": `
def tool():
    return derivation(name = "compiler", ${sh})

def app():
    return derivation(name = "app", ${sh}, args = [tool().out], system = sys.target)

def all():
    return [app(), derivation(name = "test", ${sh}, args = [app().out], platform = sys.target, system = sys.target)]
`,
  });

  it("follows sys.target where recipes ask for it and keeps host tools shared", () => {
    const ctx = createContext(readProject(root), { host: "x86_64-linux" });
    const native = evaluate(ctx, [".:all"], root);
    const ctxArm = createContext(readProject(root), { host: "x86_64-linux", target: "aarch64-linux" });
    const arm = evaluate(ctxArm, [".:all"], root);
    const names = (ev: Evaluation) => new Map([...ev.drvs].map(([h, d]) => [d.name, h]));
    const n = names(native);
    const a = names(arm);
    expect(a.get("compiler")).toBe(n.get("compiler"));
    expect(a.get("app")).not.toBe(n.get("app"));
    expect(a.get("test")).not.toBe(n.get("test"));
    const armTest = arm.drvs.get(a.get("test")!)!;
    expect([armTest.platform, armTest.system]).toEqual(["aarch64-linux", "aarch64-linux"]);
    expect(arm.drvs.get(a.get("app")!)!.platform).toBe("x86_64-linux");
  });
});
