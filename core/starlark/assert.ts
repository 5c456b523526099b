// The test module of `bramble starlark --test` (starlark-go's starlarktest/assert.star):
// `assert.eq/ne/true/lt/contains/fails/fail`, `catch(f)`, `matches(pattern, s)` and
// `freeze(x)`; and the chunked test files of starlark-go's testdata ("---" separates
// chunks, `### "regexp"` marks a chunk that must fail with a matching error).
import { StarlarkError, formatPos } from "./errors.js";
import { execFile, ExecOptions } from "./eval.js";
import { Dialect } from "./resolver.js";
import { Thread } from "./thread.js";
import { call } from "./call.js";
import { Builtin, Float, Value, compare, equals, freeze, iterValues, toFloat, truth, typeName } from "./values.js";
import { repr, str } from "./repr.js";
import { Struct } from "./struct.js";

/** Where assertion failures go; starlarktest's `error` reports and goes on. */
export type Reporter = (msg: string) => void;

function one(name: string, args: Value[], n: number): void {
  if (args.length < n) throw new StarlarkError(`${name}: got ${args.length} arguments, want ${n}`);
}

/** Floats equal within one unit in the last place, as starlarktest's _floateq. */
function floatEq(x: number, y: number): boolean {
  if (x === y || (Number.isNaN(x) && Number.isNaN(y))) return true;
  const b = new Float64Array([x, y]);
  const i = new BigInt64Array(b.buffer);
  const d = i[0] - i[1];
  return d === 1n || d === -1n;
}

const isNum = (v: Value) => typeof v === "number" || typeof v === "bigint" || v instanceof Float;

/** The predeclared names of a test file: assert, catch, matches, freeze. */
export function testPredeclared(report: Reporter): Map<string, Value> {
  const at = (th: Thread, msg: string) => {
    const pos = th.callerPosition();
    report(pos ? `${formatPos(pos)}: ${msg}` : msg);
    return null;
  };
  const catch_ = (th: Thread, fn: Value): string | null => {
    try {
      call(th, fn, []);
      return null;
    } catch (e) {
      if (e instanceof StarlarkError) return e.msg;
      throw e;
    }
  };
  const assert = new Struct("assert", {
    fail: new Builtin("error", (th, args) => {
      one("error", args, 1);
      return at(th, str(args[0]));
    }),
    eq: new Builtin("assert.eq", (th, [x, y]) => {
      if (equals(x, y)) return null;
      if ((x instanceof Float && isNum(y)) || (y instanceof Float && isNum(x))) {
        if (!floatEq(toFloat(x as number), toFloat(y as number))) at(th, `floats: ${repr(x)} != ${repr(y)} (delta > 1 ulp)`);
        return null;
      }
      return at(th, `${repr(x)} != ${repr(y)}`);
    }),
    ne: new Builtin("assert.ne", (th, [x, y]) => (equals(x, y) ? at(th, `${repr(x)} == ${repr(y)}`) : null)),
    true: new Builtin("assert.true", (th, args) => (truth(args[0] ?? null) ? null : at(th, args.length > 1 ? str(args[1]) : "assertion failed"))),
    lt: new Builtin("assert.lt", (th, [x, y]) => (compare("<", x, y) < 0 ? null : at(th, `${str(x)} is not less than ${str(y)}`))),
    contains: new Builtin("assert.contains", (th, [x, y]) => {
      let ok: boolean;
      if (typeof x === "string") {
        if (typeof y !== "string") throw new StarlarkError(`'in <string>' requires string as left operand, not ${typeName(y)}`);
        ok = x.includes(y);
      } else ok = (iterValues(x) ?? []).some((e) => equals(e, y));
      return ok ? null : at(th, `${str(x)} does not contain ${str(y)}`);
    }),
    fails: new Builtin("assert.fails", (th, [fn, pattern]) => {
      const msg = catch_(th, fn);
      if (msg === null) return at(th, `evaluation succeeded unexpectedly (want error matching ${repr(pattern)})`);
      if (!new RegExp(pattern as string).test(msg)) return at(th, `regular expression (${str(pattern)}) did not match error (${msg})`);
      return null;
    }),
  });
  return new Map<string, Value>([
    ["assert", assert],
    [
      "catch",
      new Builtin("catch", (th, args) => {
        one("catch", args, 1);
        return catch_(th, args[0]);
      }),
    ],
    [
      "matches",
      new Builtin("matches", (_th, args) => {
        one("matches", args, 2);
        try {
          return new RegExp(args[0] as string).test(args[1] as string);
        } catch (e) {
          throw new StarlarkError(`matches: ${(e as Error).message}`);
        }
      }),
    ],
    [
      "freeze",
      new Builtin("freeze", (_th, args, kwargs) => {
        if (kwargs.length > 0) throw new StarlarkError("freeze does not accept keyword arguments");
        if (args.length !== 1) throw new StarlarkError(`freeze got ${args.length} arguments, wants 1`);
        freeze(args[0]);
        return args[0];
      }),
    ],
  ]);
}

export interface ChunkResult {
  line: number;
  ok: boolean;
  message: string;
}

/** Dialect options named in a test file: `# option:NAME` turns one on, `# nooption:NAME` off. */
export function fileOptions(src: string, base: Dialect): Dialect {
  const d = { ...base } as unknown as Record<string, boolean>;
  const names: Record<string, string> = {
    global_reassign: "globalReassign",
    globalreassign: "globalReassign",
    top_level_control: "topLevelControl",
    toplevelcontrol: "topLevelControl",
  };
  for (const m of src.matchAll(/^# (no)?option:(\w+)/gm)) d[names[m[2]] ?? m[2]] = !m[1];
  return d as unknown as Dialect;
}

/**
 * Run each chunk of a test file in its own module. A chunk passes when it runs without error
 * and without assertion failures, or, if it has a `### "regexp"` line, fails with a matching
 * error. Lines outside the chunk are blanked, so positions are those of the file.
 */
export function runChunks(
  name: string,
  src: string,
  predeclared: Map<string, Value>,
  opts: ExecOptions,
  print: (msg: string) => void = () => {},
): ChunkResult[] {
  const lines = src.split("\n");
  const results: ChunkResult[] = [];
  let start = 0;
  for (let i = 0; i <= lines.length; i++) {
    if (i < lines.length && lines[i] !== "---") continue;
    const a = start,
      b = i;
    start = i + 1;
    const body = lines.map((l, k) => (k >= a && k < b ? l : "")).join("\n");
    let want: RegExp | undefined;
    for (let k = a; k < b; k++) {
      const m = /###\s*(["'`]?)(.*?)\1\s*$/.exec(lines[k]);
      if (m) want = new RegExp(m[2]);
    }
    const failures: string[] = [];
    const pre = new Map([...predeclared, ...testPredeclared((m) => failures.push(m))]);
    const thread = new Thread(`exec ${name}`, print); // (the name load() resolves paths against: cli.ts fileLoader)
    let message = "";
    try {
      execFile(thread, name, body, pre, opts);
      if (want) message = `chunk at line ${a + 1}: succeeded, want error matching ${want}`;
    } catch (e) {
      if (!(e instanceof StarlarkError)) message = `non-Starlark error: ${String(e)}`;
      else if (!want) message = e.format();
      else if (!want.test(e.msg)) message = `error ${JSON.stringify(e.msg)} does not match ${want}\n${e.format()}`;
    }
    if (failures.length > 0) message = [...failures, message].filter((s) => s).join("\n");
    results.push({ line: a + 1, ok: message === "", message });
  }
  return results;
}
