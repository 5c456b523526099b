// Errors a person can act on: positions, source line and caret, call stacks, and never a
// JavaScript crash — not for deep nesting, runaway recursion, or random input.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { codegen } from "../../core/starlark/compiler.js";
import { BRAMBLE_DIALECT, Builtin, DEFAULT_DIALECT, PERMISSIVE_DIALECT, StarlarkError, Thread, execFile, unpackArgs } from "../../core/starlark/index.js";

function run(src: string, opts: Parameters<typeof execFile>[4] = {}, predeclared: Record<string, never> | Record<string, unknown> = {}) {
  return execFile(new Thread("t", () => {}), "x.star", src, predeclared as never, opts);
}

function error(src: string, opts: Parameters<typeof execFile>[4] = {}, predeclared: Record<string, unknown> = {}): StarlarkError {
  try {
    run(src, opts, predeclared);
  } catch (e) {
    expect(e).toBeInstanceOf(StarlarkError);
    return e as StarlarkError;
  }
  throw new Error("no error");
}

describe("error format", () => {
  it("a top level that loops (generated source) reports the same positions and stack as closures", () => {
    const src = "def g(x):\n    return x['missing']\n\nfor i in range(2):\n    g({'a': i})\n";
    const expected = [
      'x.star:2:13: key "missing" not in dict',
      "    return x['missing']",
      "            ^",
      "Traceback (most recent call last):",
      "  x.star:5:6: in <toplevel>",
      "  x.star:2:13: in g",
    ].join("\n");
    expect(error(src, { dialect: BRAMBLE_DIALECT }).format()).toBe(expected);
    codegen.enabled = false;
    try {
      expect(error(src, { dialect: BRAMBLE_DIALECT }).format()).toBe(expected);
    } finally {
      codegen.enabled = true;
    }
  });

  it("a runtime error has position, source line, caret and traceback (innermost last)", () => {
    const e = error("def g(x):\n    return x['missing']\n\ndef f():\n    return g({'a': 1})\n\nf()\n");
    expect(e.format()).toBe(
      [
        'x.star:2:13: key "missing" not in dict',
        "    return x['missing']",
        "            ^",
        "Traceback (most recent call last):",
        "  x.star:7:2: in <toplevel>",
        "  x.star:5:13: in f",
        "  x.star:2:13: in g",
      ].join("\n"),
    );
    expect(e.pos).toEqual({ file: "x.star", line: 2, col: 13 });
    expect(e.callStack.map((f) => f.name)).toEqual(["<toplevel>", "f", "g"]);
  });

  it("a syntax error has position, line and caret and no traceback", () => {
    const e = error("x = 1\ny = (1 +\n");
    expect(e.format().split("\n")[0]).toMatch(/^x\.star:3:1: /);
    const e2 = error("x = [1, 2\ny = 3\n");
    expect(e2.format()).toBe("x.star:2:2: got identifier, want ']'\ny = 3\n ^"); // as starlark-go: just past the token
  });

  it("a resolve error names the undefined name and suggests a close one", () => {
    const e = error("output = 1\ndef f():\n    return outptu\n");
    expect(e.format()).toBe("x.star:3:12: undefined: outptu (did you mean output?)\n    return outptu\n           ^");
  });

  it("fail() gives 'fail: msg' at the call", () => {
    const e = error("def f():\n    fail('bad', 'thing')\nf()\n");
    expect(e.msg).toBe("fail: bad thing");
    expect(e.pos).toEqual({ file: "x.star", line: 2, col: 9 });
  });

  it("host builtin errors are placed at the call site and prefixed with the builtin's name", () => {
    const derivation = new Builtin("derivation", (_th, args, kw) => {
      const [name] = unpackArgs("derivation", args, kw, "name", "builder?");
      if (typeof name !== "string") throw new StarlarkError("name must be a string");
      return null;
    });
    expect(error("derivation(builder = 'x')\n", {}, { derivation }).format()).toBe(
      "x.star:1:11: derivation: missing argument for name\nderivation(builder = 'x')\n          ^\nTraceback (most recent call last):\n  x.star:1:11: in <toplevel>",
    );
    expect(error("derivation(1)\n", {}, { derivation }).msg).toBe("derivation: name must be a string");
    expect(error("derivation('a', nme = 1)\n", {}, { derivation }).msg).toBe('derivation: unexpected keyword argument "nme" (did you mean name?)');
    const plain = new Builtin("plain", () => {
      throw new Error("disk on fire");
    });
    expect(error("plain()\n", {}, { plain }).msg).toBe("plain: disk on fire");
  });

  it("thread.callerPosition() is the innermost Starlark call site", () => {
    const seen: string[] = [];
    const where = new Builtin("where", (th) => {
      const p = th.callerPosition()!;
      seen.push(`${p.file}:${p.line}:${p.col}`);
      seen.push(
        th
          .callStack()
          .map((f) => f.name)
          .join(">"),
      );
      return null;
    });
    run("def f():\n    where()\nf()\n", {}, { where });
    expect(seen).toEqual(["x.star:2:10", "<toplevel>>f"]);
  });
});

describe("limits are Starlark errors, not JS crashes", () => {
  it("deeply nested brackets", () => {
    expect(error("x = " + "(".repeat(100000) + "1" + ")".repeat(100000) + "\n").msg).toMatch(/excessive nesting/);
    expect(error("x = " + "[".repeat(5000) + "]".repeat(5000) + "\n").msg).toMatch(/excessive nesting/);
  });
  it("a very long operator chain", () => {
    const e = error("x = " + Array(200000).fill("1").join(" + ") + "\n");
    expect(e.msg).toMatch(/stack overflow|too deep/);
  });
  it("runaway recursion when recursion is enabled", () => {
    const e = error("def f(n):\n    return f(n + 1)\nf(0)\n", { dialect: PERMISSIVE_DIALECT });
    expect(e.msg).toMatch(/stack overflow/);
    expect(e.callStack.length).toBeGreaterThan(100);
    // the same for direct calls of 0 to 3 arguments and a keyword call, with exact positions and depth
    for (const [def, call, first] of [
      ["f()", "f()", "f()"],
      ["f(a)", "f(a)", "f(0)"],
      ["f(a, b)", "f(a, b)", "f(0, 0)"],
      ["f(a, b, c)", "f(a, b, c)", "f(0, 0, 0)"],
      ["f(a, b = 1)", "f(a, b = b)", "f(0)"],
    ]) {
      const th = new Thread("t", () => {});
      th.maxDepth = 50;
      const src = `def ${def}:\n    return ${call}\n${first}\n`;
      let got: StarlarkError | undefined;
      try {
        execFile(th, "r.star", src, {}, { dialect: PERMISSIVE_DIALECT });
      } catch (ex) {
        got = ex as StarlarkError;
      }
      expect(got?.msg).toBe("stack overflow: more than 50 nested calls");
      expect(got?.pos).toEqual({ file: "r.star", line: 2, col: 13 });
      expect(got?.callStack.length).toBe(50); // <toplevel> and 49 calls of f
    }
  });
  it("a step limit counts calls (direct calls too)", () => {
    const th = new Thread("t", () => {});
    th.maxSteps = 500;
    let got: StarlarkError | undefined;
    try {
      execFile(th, "s.star", "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\nfib(20)\n", {}, { dialect: PERMISSIVE_DIALECT });
    } catch (ex) {
      got = ex as StarlarkError;
    }
    expect(got?.msg).toBe("Starlark computation cancelled: too many steps");
    expect(th.steps).toBe(501);
  });
  it("recursion is an error unless enabled", () => {
    expect(error("def f(n):\n    return f(n - 1) if n else 0\nf(3)\n").msg).toBe("function f called recursively");
  });
  it("a step limit stops long computations", () => {
    const th = new Thread("t", () => {});
    th.maxSteps = 1000;
    expect(() => execFile(th, "x.star", "def f():\n    for i in range(100000):\n        pass\nf()\n", {})).toThrow(/too many steps/);
    const th2 = new Thread("t", () => {});
    th2.maxSteps = 1000;
    const e = (() => {
      try {
        execFile(th2, "y.star", "def f():\n    for p in ('x,' * 5000).split(','):\n        pass\nf()\n", {});
      } catch (ex) {
        return ex as StarlarkError;
      }
      throw new Error("no error");
    })();
    expect(e.msg).toMatch(/too many steps/);
    expect(e.pos).toEqual({ file: "y.star", line: 2, col: 5 });
  });
});

describe("dialects", () => {
  it("default (starlark-go): no while, no top-level if/for, no global reassignment", () => {
    expect(error("def f():\n    while True:\n        pass\n", { dialect: DEFAULT_DIALECT }).msg).toBe("this Starlark dialect does not support while loops");
    expect(error("if True:\n    pass\n", { dialect: DEFAULT_DIALECT }).msg).toBe("if statement not within a function");
    expect(error("for x in []:\n    pass\n", { dialect: DEFAULT_DIALECT }).msg).toBe("for loop not within a function");
    expect(error("x = 1\nx = 2\n", { dialect: DEFAULT_DIALECT }).msg).toBe("cannot reassign global x declared at x.star:1:1");
  });
  it("bramble: while and top-level control, still no recursion or reassignment", () => {
    const g = run("n = 0\nfor i in range(3):\n    pass\ndef f():\n    i = 0\n    while i < 5:\n        i += 1\n    return i\nm = f()\n", {
      dialect: BRAMBLE_DIALECT,
    });
    expect(g.get("m")).toBe(5);
    expect(error("def f():\n    f()\nf()\n", { dialect: BRAMBLE_DIALECT }).msg).toBe("function f called recursively");
  });
  it("set can be turned off", () => {
    expect(error("s = set()\n", { dialect: { ...DEFAULT_DIALECT, set: false } }).msg).toBe("this Starlark dialect does not support sets");
  });
  it("globals may be reassigned when enabled", () => {
    expect(run("x = 1\nx += 1\n", { dialect: PERMISSIVE_DIALECT }).get("x")).toBe(2);
  });
});

describe("modules: load and freezing", () => {
  const lib = () => execFile(new Thread("lib", () => {}), "lib.star", "items = [1]\ndef add(x):\n    items.append(x)\n_private = 1\n", {});
  it("load binds names, with aliases, and loaded values are frozen", () => {
    const g = run("load('lib.star', 'items', plus = 'add')\nn = len(items)\n", { load: () => lib() });
    expect(g.get("n")).toBe(1);
    expect(g.has("items")).toBe(false);
    const e = error("load('lib.star', 'add')\nadd(2)\n", { load: () => lib() });
    expect(e.msg).toBe("append: cannot append to frozen list");
    expect(e.callStack.map((f) => `${f.pos.file}:${f.pos.line} ${f.name}`)).toEqual(["x.star:2 <toplevel>", "lib.star:3 add"]);
  });
  it("load errors are reported at the load statement", () => {
    const e = error("\nload('nope.star', 'x')\n", {
      load: () => {
        throw new Error("no such file");
      },
    });
    expect(e.pos).toEqual({ file: "x.star", line: 2, col: 1 });
    expect(e.msg).toBe("cannot load nope.star: no such file");
    expect(error("load('lib.star', 'nosuch')\n", { load: () => lib() }).msg).toBe('load: name nosuch not found in module "lib.star"');
    expect(error("load('lib.star', '_private')\n", { load: () => lib() }).msg).toMatch(/names with leading underscores are not exported/);
  });
});

// ---------------------------------------------------------------- fuzz

function seeds(): string[] {
  const dirs = [join(import.meta.dirname, "testdata"), join(import.meta.dirname, "../../bench/starlark")];
  const out: string[] = [];
  for (const d of dirs) for (const f of readdirSync(d).filter((f) => f.endsWith(".star"))) out.push(...readFileSync(join(d, f), "utf8").split("\n---\n"));
  return out;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const TOKENS = [
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
  ":",
  ",",
  "=",
  "+",
  "*",
  "**",
  "\n",
  "\n    ",
  "def",
  "lambda",
  "for",
  "in",
  "if",
  "else",
  '"',
  "'",
  "\\",
  "#",
  "1e999",
  "0x",
  "None",
  ".",
  "-",
  "//",
  "%",
  "%s",
  "not",
  "and",
  "return",
  "\t",
  "\u00e9",
  "load(",
  "*args",
  "x",
];

function mutate(src: string, r: () => number): string {
  let s = src;
  const n = 1 + Math.floor(r() * 4);
  for (let k = 0; k < n; k++) {
    const i = Math.floor(r() * (s.length + 1));
    const op = Math.floor(r() * 5);
    if (op === 0)
      s = s.slice(0, i); // truncate
    else if (op === 1)
      s = s.slice(0, i) + s.slice(i + 1 + Math.floor(r() * 10)); // delete
    else if (op === 2)
      s = s.slice(0, i) + TOKENS[Math.floor(r() * TOKENS.length)] + s.slice(i); // insert
    else if (op === 3) {
      const j = Math.floor(r() * s.length);
      s = s.slice(0, i) + s.slice(j, j + 20) + s.slice(i); // duplicate a span
    } else s = s.slice(0, i) + String.fromCharCode(Math.floor(r() * 128)) + s.slice(i + 1); // replace a char
  }
  return s;
}

describe("fuzz", () => {
  it("thousands of mutated and truncated programs end normally or in a StarlarkError", () => {
    const base = seeds();
    const r = rng(12345);
    const deadline = Date.now() + 8000;
    let ran = 0,
      failed = 0;
    const assertModule = new Builtin("assert", () => null);
    for (let i = 0; i < 4000 && Date.now() < deadline; i++) {
      const src = mutate(base[Math.floor(r() * base.length)], r);
      const th = new Thread("fuzz", () => {});
      th.maxSteps = 20000;
      const dialect = i % 2 ? DEFAULT_DIALECT : PERMISSIVE_DIALECT;
      try {
        execFile(th, "fuzz.star", src, { assert: assertModule }, { dialect });
      } catch (e) {
        if (!(e instanceof StarlarkError)) throw new Error(`non-Starlark error ${String(e)} for program:\n${src}`);
        const text = e.format();
        expect(text).toMatch(/^fuzz\.star:\d+:\d+: /);
        expect(text).not.toMatch(/\n\s+at .*\.(ts|js|mjs):\d+/);
        failed++;
      }
      ran++;
    }
    expect(ran).toBeGreaterThan(1000);
    expect(failed).toBeGreaterThan(ran / 4);
  });
});
