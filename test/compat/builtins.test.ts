// files(), derivation(), run() and test() as bramble documents them (issue 15), and the
// places this project deliberately differs, each with the reason in the error.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { outputTemplate } from "../../core/derivation/derivation.js";
import { createContext, evaluate, type Evaluation } from "../../core/project/evaluate.js";
import { readProject } from "../../core/project/project.js";

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "bramble-compat-"));
  for (const [path, text] of Object.entries({ "bramble.toml": '[package]\nname = "example.com/p"\n', ...files })) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function run(root: string, arg: string): Evaluation {
  return evaluate(createContext(readProject(root), { host: "x86_64-linux" }), [arg], root);
}

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected an error");
}

const byName = (ev: Evaluation, name: string) => [...ev.drvs.values()].find((d) => d.name === name)!;
const sh = 'builder = "/bin/sh"';

describe("files()", () => {
  const root = tree({
    "src/a.c": "a",
    "src/b.c": "b",
    "src/data/x.txt": "x",
    "src/data/deep/y.txt": "y",
    "src/default.bramble": `
def dotted():
    return files(["./*.c"])
def dirs():
    return files(["data"], include_directories = True)
def with_dirs():
    return derivation(name = "d", ${sh}, sources = files(["data"], include_directories = True))
def srcs():
    return files(["./data/**"])
def bad_exclude():
    return files(["*.c"], exclude = ["[a-"])
def bad_include():
    return files(["src[.c"])
def up():
    return files(["../x"])
def empty():
    return files([""])
`,
    "build/default.bramble": `
load("example.com/p/src")
def cross():
    return derivation(name = "cross", ${sh}, sources = src.srcs())
`,
  });

  it('matches "./x" patterns as bramble users write them', () => {
    expect(run(root, "./src:dotted").roots).toEqual([]);
    const ctx = createContext(readProject(root), { host: "x86_64-linux" });
    evaluate(ctx, ["./src:with_dirs"], root);
    expect([...ctx.drvs.values()][0]!.sources!.files).toEqual(["src/data/deep/y.txt", "src/data/x.txt"]);
  });

  it("accepts a files() value made in another module's directory as sources", () => {
    expect(byName(run(root, "./build:cross"), "cross").sources).toMatchObject({ dir: "build", files: ["src/data/deep/y.txt", "src/data/x.txt"] });
  });

  it("refuses malformed include and exclude patterns, saying why", () => {
    expect(message(() => run(root, "./src:bad_exclude"))).toMatch(/files: exclude pattern "\[a-" is malformed: '\[' at column 1 of "\[a-" has no closing '\]'/);
    expect(message(() => run(root, "./src:bad_include"))).toMatch(/files: include pattern "src\[\.c" is malformed/);
    expect(message(() => run(root, "./src:empty"))).toMatch(/files: include pattern "" names no files/);
  });

  it("refuses '..' and says that this differs from bramble, and why", () => {
    expect(message(() => run(root, "./src:up"))).toMatch(
      /files: include pattern "\.\.\/x" must stay inside the project, below this module's directory .*unlike bramble, which allows '\.\.' within the project/,
    );
  });
});

describe("derivation()", () => {
  const root = tree({
    "default.bramble": `
def scalars():
    return derivation(name = "s", ${sh}, args = ["-c", 3, True], env = {"N": 42, "YES": True, "NO": False})
def wrong_type():
    return derivation(name = "w", ${sh}, env = {"X": [1]})
def wrong_arg():
    return derivation(name = "w", ${sh}, args = [{"a": 1}])
`,
    "toplevel.bramble": `d = derivation(name = "top", ${sh})\ndef f():\n    return d\n`,
  });

  it("renders ints and bools in env and args as bramble does", () => {
    const d = byName(run(root, ".:scalars"), "s");
    expect(d.args).toEqual(["-c", "3", "true"]);
    expect(d.env).toEqual({ N: "42", YES: "true", NO: "false" });
  });

  it("names the wrong type it was given", () => {
    expect(message(() => run(root, ".:wrong_type"))).toMatch(/derivation: env\["X"\] must be a string, an int, a bool or a derivation, not list/);
    expect(message(() => run(root, ".:wrong_arg"))).toMatch(/derivation: args\[0\] must be a string, an int, a bool or a derivation, not dict/);
  });

  it("refuses a call at module top level", () => {
    expect(message(() => run(root, "./toplevel:f"))).toMatch(
      /toplevel\.bramble:1:\d+: derivation: derivation call not within a function \(call derivation\(\) inside a def, and return it\)/,
    );
  });
});

describe("run() and test()", () => {
  const root = tree({
    "default.bramble": `
def tool():
    return derivation(name = "tool", ${sh})
def app():
    return run(tool(), "tool", args = ["--x"], paths = ["."], read_only = True, hidden_paths = ["secret"], network = True)
`,
    "tests.bramble": `
load("example.com/p", "tool")
test(tool(), args = ["tool", "--selftest"])
`,
  });

  it("records a run() value a function returns, with every field", () => {
    const ev = run(root, ".:app");
    const tool = byName(ev, "tool");
    expect(ev.runs).toEqual([{ derivation: ev.roots[0], cmd: "tool", args: ["--x"], paths: ["."], readOnly: true, hiddenPaths: ["secret"], network: true }]);
    expect(tool.name).toBe("tool");
    expect(ev.roots.length).toBe(1);
    expect(outputTemplate(ev.roots[0]!, "out")).toMatch(/out/);
  });

  it("a top-level test() of a derivation no function returns is part of the evaluated graph", () => {
    const ev = run(root, "./tests");
    expect(ev.tests.map((t) => t.args)).toEqual([["tool", "--selftest"]]);
    expect(ev.drvs.has(ev.tests[0]!.derivation)).toBe(true);
  });
});
