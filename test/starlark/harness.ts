// Runs Starlark test files in the style of starlark-go's testdata: chunks separated by
// "---" lines; a chunk containing `### "regexp"` must fail with a matching error, any
// other chunk must run without error. `# option:NAME` lines enable dialect options.
import { readFileSync } from "node:fs";
import {
  BRAMBLE_DIALECT, Builtin, Dialect, StarlarkError, Struct, Thread, Value, call, equal, execFile, json, math, repr,
  str, truth, compare,
} from "../../core/starlark/index.js";

function fail(msg: string): never {
  throw new StarlarkError(msg);
}

export const assertModule = new Struct("assert", {
  eq: new Builtin("assert.eq", (_th, args) => {
    if (!equal(args[0], args[1])) fail(`assertion failed: ${repr(args[0])} != ${repr(args[1])}`);
    return null;
  }),
  ne: new Builtin("assert.ne", (_th, args) => {
    if (equal(args[0], args[1])) fail(`assertion failed: ${repr(args[0])} == ${repr(args[1])}`);
    return null;
  }),
  true: new Builtin("assert.true", (_th, args) => {
    if (!truth(args[0])) fail(`assertion failed: ${args.length > 1 ? str(args[1]) : repr(args[0]) + " is not true"}`);
    return null;
  }),
  lt: new Builtin("assert.lt", (_th, args) => {
    if (!(compare(args[0], args[1]) < 0)) fail(`assertion failed: ${repr(args[0])} is not less than ${repr(args[1])}`);
    return null;
  }),
  contains: new Builtin("assert.contains", (_th, args) => {
    const [hay, needle] = args;
    const ok = typeof hay === "string" ? hay.includes(needle as string) : (hay as { elems?: Value[] }).elems?.some((e) => equal(e, needle));
    if (!ok) fail(`assertion failed: ${repr(hay)} does not contain ${repr(needle)}`);
    return null;
  }),
  fails: new Builtin("assert.fails", (th, args) => {
    const [fn, pattern] = args;
    try {
      call(th, fn, []);
    } catch (e) {
      if (!(e instanceof StarlarkError)) throw e;
      if (!new RegExp(pattern as string).test(e.msg)) fail(`assertion failed: error ${JSON.stringify(e.msg)} does not match ${JSON.stringify(pattern)}`);
      return null;
    }
    fail(`assertion failed: evaluation succeeded unexpectedly (want error matching ${JSON.stringify(pattern)})`);
  }),
});

export interface ChunkResult {
  file: string;
  line: number;
  ok: boolean;
  message: string;
}

/** Run every chunk of a test file; each result says whether it behaved as expected. */
export function runStarFile(path: string, name = path.split("/").pop()!): ChunkResult[] {
  const src = readFileSync(path, "utf8");
  const lines = src.split("\n");
  const dialect: Dialect = { ...BRAMBLE_DIALECT };
  for (const l of lines) {
    const m = /^# option:(\w+)/.exec(l);
    if (m) (dialect as unknown as Record<string, boolean>)[m[1] === "global_reassign" ? "globalReassign" : m[1] === "top_level_control" ? "topLevelControl" : m[1]] = true;
    const n = /^# nooption:(\w+)/.exec(l);
    if (n) (dialect as unknown as Record<string, boolean>)[n[1] === "global_reassign" ? "globalReassign" : n[1] === "top_level_control" ? "topLevelControl" : n[1]] = false;
  }
  const results: ChunkResult[] = [];
  let start = 0;
  const chunks: [number, number][] = [];
  for (let i = 0; i <= lines.length; i++) {
    if (i === lines.length || lines[i] === "---") {
      chunks.push([start, i]);
      start = i + 1;
    }
  }
  for (const [a, b] of chunks) {
    // pad with blank lines so positions in errors match the file
    const body = lines.map((l, i) => (i >= a && i < b ? l : "")).join("\n");
    let want: RegExp | undefined;
    for (let i = a; i < b; i++) {
      const m = /###\s*["`]?(.*?)["`]?\s*$/.exec(lines[i]);
      if (m && lines[i].includes("###")) want = new RegExp(m[1]);
    }
    const printed: string[] = [];
    const thread = new Thread("test", (s) => printed.push(s));
    try {
      execFile(thread, name, body, { assert: assertModule, json, math }, { dialect });
      results.push({ file: name, line: a + 1, ok: !want, message: want ? `chunk at line ${a + 1}: succeeded, want error matching ${want}` : "" });
    } catch (e) {
      const msg = e instanceof StarlarkError ? e.msg : String(e);
      const formatted = e instanceof StarlarkError ? e.format() : String(e);
      if (!(e instanceof StarlarkError)) results.push({ file: name, line: a + 1, ok: false, message: `non-Starlark error: ${formatted}` });
      else if (want && want.test(msg)) results.push({ file: name, line: a + 1, ok: true, message: "" });
      else results.push({ file: name, line: a + 1, ok: false, message: want ? `error ${JSON.stringify(msg)} does not match ${want}\n${formatted}` : formatted });
    }
  }
  return results;
}
