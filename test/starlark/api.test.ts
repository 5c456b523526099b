// The public API the rest of the project codes against.
import { PassThrough, Writable } from "node:stream";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  BRAMBLE_DIALECT,
  PERMISSIVE_DIALECT,
  Builtin,
  Dict,
  Float,
  HostValue,
  List,
  None,
  StarlarkError,
  Struct,
  Thread,
  Tuple,
  Value,
  call,
  execFile,
  fromJS,
  isCallable,
  isDict,
  isInt,
  isList,
  isNone,
  isString,
  listFunctions,
  makeDict,
  makeList,
  makeTuple,
  parseFile,
  repr,
  str,
  toJS,
  truth,
  typeName,
  unpackArgs,
} from "../../core/starlark/index.js";
import { needsMore, repl, runFile } from "../../core/starlark/cli.js";

function sink(): { stream: Writable; text: () => string } {
  let buf = "";
  const stream = new Writable({
    write(chunk, _enc, cb) {
      buf += String(chunk);
      cb();
    },
  });
  return { stream, text: () => buf };
}

describe("values and conversion", () => {
  it("toJS and fromJS convert plain data", () => {
    const g = execFile(new Thread(), "x.star", "v = [None, True, 1, 1 << 70, 2.5, 'a', b'\\x01', (1,), {'k': [1]}, set([1])]\n", {});
    expect(toJS(g.get("v")!)).toEqual([null, true, 1, 1n << 70n, 2.5, "a", Uint8Array.from([1]), [1], new Map([["k", [1]]]), new Set([1])]);
    const v = fromJS({ a: [1, 2.5, "x", null, true], b: new Map([["c", 3n]]) });
    expect(repr(v)).toBe('{"a": [1, 2.5, "x", None, True], "b": {"c": 3}}');
    expect(typeName(fromJS(2.0))).toBe("int");
    expect(fromJS(2.5)).toBeInstanceOf(Float);
  });
  it("type guards, str, repr, truth, helpers", () => {
    expect(isString("a") && isInt(1) && isInt(1n) && isNone(None) && !isInt(new Float(1))).toBe(true);
    expect(isList(makeList([1])) && isDict(makeDict([["a", 1]]))).toBe(true);
    expect(repr(makeTuple([1]))).toBe("(1,)");
    expect(str("a")).toBe("a");
    expect(repr("a")).toBe('"a"');
    expect(truth(makeList([]))).toBe(false);
    expect(isCallable(new Builtin("f", () => None))).toBe(true);
    expect(typeName(new Struct("module", {}))).toBe("module");
  });
  it("host values expose attributes to Starlark", () => {
    const sys = new Struct("sys", { platform: "x86_64-linux" });
    class Drv implements HostValue {
      type() {
        return "derivation";
      }
      str() {
        return "{{ abc:out }}";
      }
      attr(n: string): Value | undefined {
        return n === "name" ? "hello" : undefined;
      }
      attrNames() {
        return ["name"];
      }
      hash() {
        return 1;
      }
    }
    const g = execFile(new Thread(), "x.star", "p = sys.platform\nd = drv\nn = d.name\ns = '%s' % d\nt = type(d)\nk = {d: 1}\n", { sys, drv: new Drv() });
    expect([g.get("p"), g.get("n"), g.get("s"), g.get("t")]).toEqual(["x86_64-linux", "hello", "{{ abc:out }}", "derivation"]);
    expect(() => execFile(new Thread(), "x.star", "sys.plattform\n", { sys })).toThrow(/sys has no .plattform field or method \(did you mean .platform\?\)/);
  });
});

describe("calling", () => {
  it("unpackArgs: required, optional (None when absent), *args, **kwargs", () => {
    expect(unpackArgs("f", [1], [["b", 2]], "a", "b?", "c?")).toEqual([1, 2, null]);
    const [a, rest, kw] = unpackArgs("f", [1, 2, 3], [["z", 4]], "a", "*rest", "**kw");
    expect(a).toBe(1);
    expect((rest as Tuple).elems).toEqual([2, 3]);
    expect((kw as Dict).get("z")).toBe(4);
    expect(() => unpackArgs("f", [], [], "a")).toThrow("f: missing argument for a");
    expect(() => unpackArgs("f", [1, 2], [], "a")).toThrow("f: got 2 arguments, want at most 1");
    expect(() => unpackArgs("f", [1], [["a", 2]], "a")).toThrow('f: got multiple values for keyword argument "a"');
  });
  it("call() runs a Starlark function from a builtin, with keyword arguments", () => {
    const apply = new Builtin("apply", (th, args) => call(th, args[0], [args[1]], [["scale", 10]]));
    const g = execFile(new Thread(), "x.star", "def f(x, scale = 1):\n    return x * scale\nr = apply(f, 4)\n", { apply });
    expect(g.get("r")).toBe(40);
  });
  it("globals are frozen after execFile; functions can still be called", () => {
    const th = new Thread();
    const g = execFile(th, "x.star", "items = []\ndef add(x):\n    items.append(x)\n", {});
    expect(() => call(th, g.get("add")!, [1])).toThrow(/cannot append to frozen list/);
    expect((g.get("items") as List).frozen).toBe(true);
  });
  it("item assignment (generated inline) into frozen lists and dicts fails", () => {
    const th = new Thread();
    const g = execFile(
      th,
      "x.star",
      "xs = [1]\nd = {'a': 1}\nbig = {i: i for i in range(20)}\ndef setl():\n    xs[0] = 2\ndef setd(k):\n    d[k] = 2\ndef setbig():\n    big['x'] = 1\n",
      {},
    );
    expect(() => call(th, g.get("setl")!, [])).toThrow(/cannot assign to element of frozen list/);
    expect(() => call(th, g.get("setd")!, ["a"])).toThrow(/cannot insert into frozen hash table/);
    expect(() => call(th, g.get("setd")!, [3])).toThrow(/cannot insert into frozen hash table/);
    expect(() => call(th, g.get("setbig")!, [])).toThrow(/cannot insert into frozen hash table/);
    expect((g.get("xs") as List).elems).toEqual([1]);
    const g2 = execFile(th, "y.star", "xs = []\ndef add(x):\n    xs.append(x)\n", {});
    expect(() => call(th, g2.get("add")!, [1])).toThrow(/cannot append to frozen list/);
    const g3 = execFile(th, "z.star", "d = {'a': 1}\nxs = [1]\ndef inc():\n    d['a'] += 1\ndef incl():\n    xs[0] += 1\n", {});
    expect(() => call(th, g3.get("inc")!, [])).toThrow(/cannot insert into frozen hash table/);
    expect(() => call(th, g3.get("incl")!, [])).toThrow(/cannot assign to element of frozen list/);
    expect((g3.get("d") as Dict).get("a")).toBe(1);
  });
  it("errors thrown by call() carry the Starlark stack", () => {
    const th = new Thread();
    const g = execFile(th, "m.star", "def f(d):\n    return d['x']\n", {});
    try {
      call(th, g.get("f")!, [makeDict([])]);
      throw new Error("no error");
    } catch (e) {
      expect(e).toBeInstanceOf(StarlarkError);
      expect((e as StarlarkError).format()).toContain('m.star:2:13: key "x" not in dict');
    }
  });
});

describe("parsing helpers", () => {
  it("listFunctions gives top-level defs with parameters and docstrings", () => {
    const src = 'def build(name, version = "1", *args, **kw):\n    """Builds it."""\n    pass\n\ndef _helper():\n    pass\n\nx = 1\n';
    expect(listFunctions("b.bramble", src)).toEqual([
      { name: "build", params: ["name", "version", "*args", "**kw"], doc: "Builds it.", line: 1 },
      { name: "_helper", params: [], doc: "", line: 5 },
    ]);
  });
  it("parseFile returns the tree or a positioned StarlarkError", () => {
    expect(parseFile("a.star", "x = 1\n").stmts).toHaveLength(1);
    expect(() => parseFile("a.star", "x = = 1\n")).toThrow("a.star:1:5: got '=', want primary expression");
  });
});

describe("cli", () => {
  it("runFile prints to stdout and exits 0; errors go to stderr with exit 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "star-"));
    writeFileSync(join(dir, "ok.star"), "print('hello', json.encode([1]), math.floor(2.5))\n");
    writeFileSync(join(dir, "bad.star"), "def f():\n    fail('nope')\nf()\n");
    const out = sink(),
      err = sink();
    expect(runFile(join(dir, "ok.star"), out.stream, err.stream)).toBe(0);
    expect(out.text()).toBe("hello [1] 2\n");
    const out2 = sink(),
      err2 = sink();
    expect(runFile(join(dir, "bad.star"), out2.stream, err2.stream)).toBe(1);
    expect(err2.text()).toBe(
      `${join(dir, "bad.star")}:2:9: fail: nope\n    fail('nope')\n        ^\nTraceback (most recent call last):\n  ${join(dir, "bad.star")}:3:2: in <toplevel>\n  ${join(dir, "bad.star")}:2:9: in f\n`,
    );
    expect(runFile(join(dir, "missing.star"), out2.stream, sink().stream)).toBe(1);
  });
  it("needsMore detects blocks, open brackets and strings", () => {
    expect(needsMore("x = 1")).toBe(false);
    expect(needsMore("def f():")).toBe(true);
    expect(needsMore("def f():\n    return 1")).toBe(true);
    expect(needsMore("def f():\n    return 1\n")).toBe(false);
    expect(needsMore("x = [1,")).toBe(true);
    expect(needsMore('x = """a')).toBe(true);
    expect(needsMore("x = '['")).toBe(false);
  });
  it("repl evaluates lines, echoes expressions, keeps state and reports errors", async () => {
    const input = new PassThrough();
    const out = sink();
    const done = repl(input, out.stream);
    input.end("x = 2\nx * 21\ndef f(n):\n    return n + x\n\nf(1)\nundefined_name\nx = 5\nx\n");
    await done;
    const text = out.text();
    expect(text).toContain("42\n");
    expect(text).toContain("3\n");
    expect(text).toContain("undefined: undefined_name");
    expect(text).toContain("5\n");
  });
});

describe("bramble dialect", () => {
  it("allows while and top-level if/for", () => {
    const g = execFile(
      new Thread(),
      "b.bramble",
      "out = []\nfor i in range(3):\n    if i % 2 == 0:\n        out.append(i)\n",
      {},
      { dialect: BRAMBLE_DIALECT },
    );
    expect(toJS(g.get("out")!)).toEqual([0, 2]);
  });
});

describe("errors never carry control characters to the terminal", () => {
  it("shows escape sequences and binary junk in the source line as U+FFFD, keeping the caret's column", async () => {
    const { StarlarkError: SE, Thread: T, execFile: ex, DEFAULT_DIALECT: D } = await import("../../core/starlark/index.js");
    let err: InstanceType<typeof SE> | undefined;
    try {
      ex(new T("t"), "junk.star", 'y = "\x1b[31mred" + \x01\n', {}, { dialect: D });
    } catch (e) {
      err = e as InstanceType<typeof SE>;
    }
    expect(err).toBeInstanceOf(SE);
    const text = err!.format();
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    const [, source, caret] = text.split("\n");
    expect(source).toBe('y = "\ufffd[31mred" + \ufffd');
    expect(caret!.length).toBe(source!.indexOf("+") + 3);
  });
});

describe("recursion when embedded (issue 16: calls stopped at 1,000 frames)", () => {
  const prog = (n: number) => `def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\nprint(f(${n}))\n`;
  it("goes past 1,000 calls, as deep as JavaScript's stack allows", () => {
    const out: string[] = [];
    execFile(new Thread("t", (s) => out.push(s)), "deep.star", prog(1200), {}, { dialect: PERMISSIVE_DIALECT });
    expect(out).toEqual(["1200"]);
  });
  it("past the stack, a Starlark error at the call, not a JavaScript one", () => {
    let got: unknown;
    try {
      execFile(new Thread("t", () => {}), "deep.star", prog(10_000_000), {}, { dialect: PERMISSIVE_DIALECT });
    } catch (e) {
      got = e;
    }
    expect(got).toBeInstanceOf(StarlarkError);
    expect((got as StarlarkError).msg).toBe("stack overflow: Starlark call stack (or expression nesting) too deep");
    expect((got as StarlarkError).pos).toEqual({ file: "deep.star", line: 2, col: 34 });
  });
});
