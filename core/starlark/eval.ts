// Evaluation of a whole file: parse, resolve, compile, run, freeze.
import { UNIVERSE } from "./builtins.js";
import { Compiler } from "./compiler.js";
import { locate } from "./runtime.js";
import { Position, StarlarkError } from "./errors.js";
import { Parser } from "./parser.js";
import { DEFAULT_DIALECT, Dialect, Resolver } from "./resolver.js";
import type { File } from "./syntax.js";
import { Frame, Thread } from "./thread.js";
import { Value, freeze } from "./values.js";

export type LoadFn = (thread: Thread, module: string) => Record<string, Value> | Map<string, Value>;

export interface ExecOptions {
  dialect?: Dialect;
  load?: LoadFn;
  /** internal (REPL): do not freeze the globals */
  noFreeze?: boolean;
  /** internal (REPL): receives the value of the last top-level expression statement */
  echo?: { value: Value | undefined };
}

function universeFor(dialect: Dialect): Map<string, Value> {
  if (dialect.set) return UNIVERSE;
  const u = new Map(UNIVERSE);
  u.delete("set");
  return u;
}

/** Convert anything thrown during evaluation into a StarlarkError (never a JS crash). */
export function asStarlarkError(e: unknown, file: string): StarlarkError {
  if (e instanceof StarlarkError) return e;
  if (e instanceof RangeError && e.message.indexOf("call stack") >= 0) {
    const se = new StarlarkError("stack overflow: program nested too deeply", { file, line: 1, col: 1 });
    se.overflow = true;
    return se;
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new StarlarkError(`internal error: ${msg}`, { file, line: 1, col: 1 });
}

export function parseFile(filename: string, source: string, _dialect?: Dialect): File {
  try {
    return new Parser(filename, source).parseFile();
  } catch (e) {
    throw asStarlarkError(e, filename);
  }
}

export function resolveFile(file: File, dialect: Dialect, predeclared: Map<string, Value>): void {
  const universe = universeFor(dialect);
  new Resolver(
    dialect,
    (n) => predeclared.has(n),
    (n) => universe.has(n),
    () => [...predeclared.keys(), ...universe.keys()],
  ).resolveFile(file);
}

export function execFile(
  thread: Thread,
  filename: string,
  source: string,
  predeclared: Record<string, Value> | Map<string, Value>,
  opts: ExecOptions = {},
): Map<string, Value> {
  const dialect = opts.dialect ?? DEFAULT_DIALECT;
  const pre = predeclared instanceof Map ? predeclared : new Map(Object.entries(predeclared));
  const depth = thread.frames.length;
  try {
    const file = new Parser(filename, source).parseFile();
    resolveFile(file, dialect, pre);
    const globals: Value[] = new Array(file.globals!.length);
    const load = opts.load;
    const compiler = new Compiler({
      globals,
      predeclared: pre,
      universe: universeFor(dialect),
      recursion: dialect.recursion,
      echo: opts.echo,
      load: load
        ? (pos: Position, fr: Frame, module: string) => {
            let m: Record<string, Value> | Map<string, Value>;
            try {
              m = load(fr.th, module);
            } catch (e) {
              const inner = e instanceof StarlarkError ? e.message : e instanceof Error ? e.message : String(e);
              const se = locate(fr, pos, new StarlarkError(`cannot load ${module}: ${inner}`));
              (se as { cause?: unknown }).cause = e;
              throw se;
            }
            return m instanceof Map ? m : new Map(Object.entries(m));
          }
        : undefined,
    });
    const code = compiler.compileToplevel(file.module!);
    const l: Value[] = new Array(code.nlocals);
    for (const ci of code.cellSlots) l[ci] = { v: undefined } as unknown as Value;
    const fr = new Frame(l, null, thread, "<toplevel>");
    thread.frames.push(fr);
    try {
      code.body(fr);
    } finally {
      thread.frames.length = depth;
    }
    const out = new Map<string, Value>();
    for (const b of file.globals!) {
      const v = globals[b.index];
      if (v !== undefined && !b.isLoad) out.set(b.name, v);
    }
    if (!opts.noFreeze) for (const v of out.values()) freeze(v);
    return out;
  } catch (e) {
    thread.frames.length = depth;
    throw asStarlarkError(e, filename);
  }
}

/** Top-level def statements: name, parameters, docstring and line. */
export function listFunctions(filename: string, source: string): { name: string; params: string[]; doc: string; line: number }[] {
  const file = parseFile(filename, source);
  const out: { name: string; params: string[]; doc: string; line: number }[] = [];
  for (const s of file.stmts) {
    if (s.kind !== "Def") continue;
    const params = s.params.map((p) => {
      if (p.kind === "star") return p.name ? "*" + p.name.name : "*";
      if (p.kind === "starstar") return "**" + p.name!.name;
      return p.name!.name;
    });
    let doc = "";
    const first = s.body[0];
    if (first?.kind === "ExprStmt" && first.x.kind === "Literal" && first.x.tokKind === "STRING") doc = first.x.value as string;
    out.push({ name: s.name.name, params, doc, line: s.pos.line });
  }
  return out;
}
