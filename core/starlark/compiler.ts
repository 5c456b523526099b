// Compiler: the resolved syntax tree to JS closures. Every name was bound to a slot by the
// resolver, so the closures index arrays (locals, cells, free variables, globals) and never
// look names up in maps at run time.
import { setCallImpl } from "./call.js";
import { generateBody } from "./codegen.js";
import { Position, StarlarkError } from "./errors.js";
import { binary, contains, getAttr, index, methodsOf, setAttr, setIndex, slice, unary } from "./ops.js";
import { percentFormat } from "./string.js";
import type { Arg, Binding, Clause, DictEntry, Expr, FunctionInfo, Stmt } from "./syntax.js";
import { Frame, Thread } from "./thread.js";
import { NO_KWARGS } from "./unpack.js";
import {
  Builtin,
  Bytes,
  Cell,
  Dict,
  Float,
  FuncCode,
  HashTable,
  List,
  Range,
  StarFunction,
  Struct,
  Tuple,
  Value,
  compare,
  equals,
  err,
  isHostValue,
  iterValues,
  mustIterate,
  quote,
  repr,
  truth,
  typeName,
} from "./values.js";

type Ev = (fr: Frame) => Value;
type Ex = (fr: Frame) => number;
type Assign = (fr: Frame, v: Value) => void;

const NORMAL = 0,
  BREAK = 1,
  CONTINUE = 2,
  RETURN = 3;
const MAX = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------- errors

function isStackOverflow(e: unknown): boolean {
  // no regular expression here: with the stack exhausted, compiling one throws again
  return e instanceof RangeError && e.message.indexOf("call stack") >= 0;
}

/** Attach position and Starlark stack to an error thrown by an operation at pos. */
export function locate(fr: Frame, pos: Position, e: unknown, prefix?: string): StarlarkError {
  if (e instanceof StarlarkError && e.located) return e;
  let se: StarlarkError;
  if (e instanceof StarlarkError) se = e;
  else if (isStackOverflow(e)) se = new StarlarkError("stack overflow: Starlark call stack (or expression nesting) too deep");
  else se = new StarlarkError(e instanceof Error ? e.message : String(e));
  if (prefix && !se.bare && !se.msg.startsWith(prefix + ":") && !se.msg.startsWith("fail:")) se.setMsg(`${prefix}: ${se.msg}`);
  fr.callPos = pos;
  try {
    se.callStack = fr.th.callStack();
  } catch {
    se.callStack = [];
  }
  se.setPos(pos);
  return se;
}

// ---------------------------------------------------------------- calls

function bindArgs(fn: StarFunction, args: Value[], kw: [string, Value][], l: Value[]): void {
  const code = fn.code,
    info = code.info;
  const np = info.numParams - info.numKwonly;
  const n = args.length;
  if (info.numParams === 0 && !info.hasVarargs && !info.hasKwargs && n + kw.length > 0) {
    throw err(`function ${fn.name} accepts no arguments (${n + kw.length} given)`);
  }
  if (n > np && !info.hasVarargs) {
    const hasDefaults = fn.defaults.slice(0, np).some((d) => d !== undefined);
    if (np === 0) throw err(`function ${fn.name} accepts no arguments (${n} given)`);
    throw err(`function ${fn.name} accepts ${hasDefaults ? "at most " : ""}${np} positional argument${np === 1 ? "" : "s"} (${n} given)`);
  }
  const m = Math.min(n, np);
  for (let i = 0; i < m; i++) l[i] = args[i];
  let slot = info.numParams;
  if (info.hasVarargs) l[slot++] = new Tuple(n > np ? args.slice(np) : []);
  let kwdict: Dict | undefined;
  if (info.hasKwargs) l[slot] = kwdict = new Dict();
  for (const [k, v] of kw) {
    const i = code.paramNames.indexOf(k);
    if (i >= 0) {
      if (l[i] !== undefined) throw err(`function ${fn.name} got multiple values for parameter ${quote(k)}`);
      l[i] = v;
    } else if (kwdict) {
      if (kwdict.has(k)) throw err(`function ${fn.name} got multiple values for parameter ${quote(k)}`);
      kwdict.set(k, v);
    } else {
      throw err(`function ${fn.name} got an unexpected keyword argument ${quote(k)}`);
    }
  }
  let missing: string[] | undefined;
  for (let i = 0; i < info.numParams; i++) {
    if (l[i] === undefined) {
      const d = fn.defaults[i];
      if (d !== undefined) l[i] = d;
      else (missing ??= []).push(code.paramNames[i]);
    }
  }
  if (missing) throw err(`function ${fn.name} missing ${missing.length} argument${missing.length === 1 ? "" : "s"} (${missing.join(", ")})`);
}

export function callFunction(th: Thread, fn: StarFunction, args: Value[], kw: [string, Value][]): Value {
  const code = fn.code as FuncCode & { active: number; simple: boolean; nparams: number };
  if (code.active > 0 && !code.recursion) throw err(`function ${fn.name} called recursively`);
  if (th.frames.length >= th.maxDepth) throw err(`stack overflow: more than ${th.maxDepth} nested calls`);
  if (++th.steps > th.maxSteps && th.outOfBudget()) throw err(th.stopReason);
  let l: Value[];
  if (kw.length === 0 && code.simple && args.length === code.nparams) {
    l = args;
    for (let i = args.length; i < code.nlocals; i++) l.push(undefined as unknown as Value);
  } else {
    l = new Array(code.nlocals);
    bindArgs(fn, args, kw, l);
  }
  return enterFunction(th, fn, l);
}

/**
 * Run a Starlark function on its bound locals `l` (parameters first, then unbound slots);
 * the recursion, depth and step checks are the caller's (see callFunction).
 */
export function enterFunction(th: Thread, fn: StarFunction, l: Value[]): Value {
  const code = fn.code as FuncCode & { active: number; generated: boolean };
  const cs = code.cellSlots;
  for (let i = 0; i < cs.length; i++) l[cs[i]] = new Cell(l[cs[i]]) as unknown as Value;
  const fr = new Frame(l, fn, th, fn.name);
  th.frames.push(fr);
  code.active++;
  let r: unknown;
  try {
    r = code.body(fr);
  } finally {
    code.active--;
    th.frames.pop();
  }
  // a generated body returns the function's value; a closure-compiled one leaves it in fr.ret
  return code.generated ? (r as Value) : fr.ret;
}

/** Call any callable value. Errors from builtins are not yet located. */
export function callValue(th: Thread, f: Value, args: Value[], kw: [string, Value][]): Value {
  if (f instanceof StarFunction) return callFunction(th, f, args, kw);
  if (f instanceof Builtin) return f.fn(th, args, kw);
  if (isHostValue(f) && typeof (f as unknown as { call?: unknown }).call === "function") {
    return (f as unknown as { call: (th: Thread, a: Value[], k: [string, Value][]) => Value }).call(th, args, kw);
  }
  throw err(`invalid call of non-function (${typeName(f)})`);
}

function calleeName(f: Value): string | undefined {
  return f instanceof Builtin ? f.name : undefined;
}

setCallImpl((th, fn, args, kw) => {
  try {
    return callValue(th, fn, args.slice(), kw);
  } catch (e) {
    const fr = th.frames[th.frames.length - 1];
    if (fr && !(e instanceof StarlarkError && e.located)) throw locate(fr, fr.callPos ?? { file: "<host>", line: 0, col: 0 }, e, calleeName(fn));
    if (!(e instanceof StarlarkError)) throw new StarlarkError(e instanceof Error ? e.message : String(e));
    throw e;
  }
});

// ---------------------------------------------------------------- compiler

export interface CompileContext {
  globals: Value[];
  predeclared: Map<string, Value>;
  universe: Map<string, Value>;
  recursion: boolean;
  load?: (pos: Position, fr: Frame, module: string) => Map<string, Value>;
  /** REPL: the value of the last top-level expression statement */
  echo?: { value: Value | undefined };
}

/** whether statements contain a for or while loop (not looking into nested defs) */
function hasLoop(ss: Stmt[]): boolean {
  for (const s of ss) {
    if (s.kind === "For" || s.kind === "While") return true;
    if (s.kind === "If" && (hasLoop(s.then) || hasLoop(s.else_))) return true;
  }
  return false;
}

/** Function bodies compile to JavaScript source (codegen.ts); off: closures only (tests run both). */
export const codegen = { enabled: true };

export class Compiler {
  constructor(private cx: CompileContext) {}

  compileFunction(info: FunctionInfo, toplevel = false): FuncCode {
    const paramNames = info.locals.slice(0, info.numParams).map((b) => b.name);
    const code = {
      info,
      name: info.name,
      nlocals: info.locals.length,
      cellSlots: info.locals.filter((b) => b.scope === "cell").map((b) => b.index),
      recursion: this.cx.recursion,
      paramNames,
      body: null as unknown as (fr: Frame) => unknown,
      active: 0,
      simple: !info.hasVarargs && !info.hasKwargs && info.numKwonly === 0,
      nparams: info.numParams,
      generated: false,
      direct: -1,
    };
    // A module's top level runs once: generated source only pays off when it loops (and the
    // REPL's echo of expression values is the closures' job).
    const generate = codegen.enabled && (!toplevel || (!this.cx.echo && hasLoop(info.body)));
    const gen = generate ? generateBody(this, info, this.cx.globals) : undefined;
    code.generated = gen !== undefined;
    // the parameter count when a positional call can enter the generated body directly, else -1
    code.direct = code.generated && code.simple && code.cellSlots.length === 0 ? code.nparams : -1;
    code.body = gen ?? this.block(info.body, toplevel);
    return code;
  }

  compileToplevel(info: FunctionInfo): FuncCode {
    return this.compileFunction(info, true);
  }

  // ---------------------------------------------------------------- statements

  private block(stmts: Stmt[], toplevel = false): Ex {
    const ss = stmts.map((s) => this.stmt(s, toplevel));
    const n = ss.length;
    if (n === 0) return () => NORMAL;
    if (n === 1) return ss[0];
    if (n === 2) {
      const [a, b] = ss;
      return (fr) => a(fr) || b(fr);
    }
    if (n === 3) {
      const [a, b, c] = ss;
      return (fr) => a(fr) || b(fr) || c(fr);
    }
    return (fr) => {
      for (let i = 0; i < n; i++) {
        const c = ss[i](fr);
        if (c !== NORMAL) return c;
      }
      return NORMAL;
    };
  }

  stmt(s: Stmt, toplevel: boolean): Ex {
    switch (s.kind) {
      case "ExprStmt": {
        const e = this.expr(s.x);
        if (toplevel && this.cx.echo) {
          const echo = this.cx.echo;
          return (fr) => {
            echo.value = e(fr);
            return NORMAL;
          };
        }
        return (fr) => {
          e(fr);
          return NORMAL;
        };
      }
      case "Assign":
        return s.op === "=" ? this.assignStmt(s.lhs, s.rhs) : this.augmented(s.op.slice(0, -1), s.lhs, s.rhs, s.pos);
      case "Def": {
        const mk = this.makeFunction(
          s.fn!,
          s.params.map((p) => p.default_),
        );
        const set = this.assigner(s.name);
        return (fr) => {
          set(fr, mk(fr));
          return NORMAL;
        };
      }
      case "If": {
        const c = this.cond(s.cond),
          t = this.block(s.then, toplevel),
          f = this.block(s.else_, toplevel);
        return (fr) => (c(fr) ? t(fr) : f(fr));
      }
      case "For":
        return this.forStmt(s.vars, s.iter, s.body, s.pos, toplevel);
      case "While": {
        const c = this.cond(s.cond),
          body = this.block(s.body, toplevel),
          pos = s.pos;
        return (fr) => {
          const th = fr.th;
          while (c(fr)) {
            if (++th.steps > th.maxSteps && th.outOfBudget()) throw locate(fr, pos, err(th.stopReason));
            const r = body(fr);
            if (r === BREAK) break;
            if (r === RETURN) return RETURN;
          }
          return NORMAL;
        };
      }
      case "Return": {
        if (!s.result)
          return (fr) => {
            fr.ret = null;
            return RETURN;
          };
        const e = this.expr(s.result);
        return (fr) => {
          fr.ret = e(fr);
          return RETURN;
        };
      }
      case "Branch":
        if (s.token === "break") return () => BREAK;
        if (s.token === "continue") return () => CONTINUE;
        return () => NORMAL;
      case "Load": {
        const module = s.module.value as string;
        const pairs = s.from.map((f, i) => [f, s.to[i]] as const);
        const G = this.cx.globals;
        const load = this.cx.load;
        const pos = s.pos;
        return (fr) => {
          if (!load) throw locate(fr, pos, err(`load not implemented by this application`));
          fr.callPos = pos;
          const m = load(pos, fr, module);
          if (s.wholeModule) {
            G[s.to[0]!.binding!.index] = moduleValue(module, m);
            return NORMAL;
          }
          for (const [from, to] of pairs) {
            const v = m.get(from.name);
            if (v === undefined) throw locate(fr, from.pos, err(`load: name ${from.name} not found in module ${quote(module)}`));
            G[to.binding!.index] = v;
          }
          return NORMAL;
        };
      }
    }
  }

  private assignStmt(lhs: Expr, rhs: Expr): Ex {
    const r = this.expr(rhs);
    if (lhs.kind === "Ident") {
      const b = lhs.binding!;
      if (b.scope === "local") {
        const i = b.index;
        return (fr) => {
          fr.l[i] = r(fr);
          return NORMAL;
        };
      }
      if (b.scope === "global") {
        const G = this.cx.globals,
          i = b.index;
        return (fr) => {
          G[i] = r(fr);
          return NORMAL;
        };
      }
    }
    const a = this.assigner(lhs);
    return (fr) => {
      a(fr, r(fr));
      return NORMAL;
    };
  }

  assigner(lhs: Expr): Assign {
    switch (lhs.kind) {
      case "Ident": {
        const b = lhs.binding!;
        const i = b.index;
        switch (b.scope) {
          case "local":
            return (fr, v) => {
              fr.l[i] = v;
            };
          case "cell":
            return (fr, v) => {
              (fr.l[i] as unknown as Cell).v = v;
            };
          case "global": {
            const G = this.cx.globals;
            return (_fr, v) => {
              G[i] = v;
            };
          }
          default:
            throw new StarlarkError(`internal error: cannot assign to ${b.scope} ${b.name}`, lhs.pos);
        }
      }
      case "Index": {
        const x = this.expr(lhs.x),
          k = this.expr(lhs.index),
          pos = lhs.pos;
        return (fr, v) => {
          const xv = x(fr),
            kv = k(fr);
          if (xv instanceof List && typeof kv === "number" && !xv.frozen && xv.itercount === 0) {
            const j = kv < 0 ? kv + xv.elems.length : kv;
            if (j >= 0 && j < xv.elems.length) {
              xv.elems[j] = v;
              return;
            }
          }
          try {
            setIndex(xv, kv, v);
          } catch (e) {
            throw locate(fr, pos, e);
          }
        };
      }
      case "Dot": {
        const x = this.expr(lhs.x),
          name = lhs.name,
          pos = lhs.pos;
        return (fr, v) => {
          const xv = x(fr);
          try {
            setAttr(xv, name, v);
          } catch (e) {
            throw locate(fr, pos, e);
          }
        };
      }
      case "Paren":
        return this.assigner(lhs.x);
      case "Tuple":
      case "List": {
        const as = lhs.elems.map((e) => this.assigner(e));
        const n = as.length,
          pos = lhs.pos;
        return (fr, v) => {
          let xs: Value[] | undefined;
          if (v instanceof Tuple || v instanceof List) xs = v.elems;
          else if (typeof v !== "string") xs = iterValues(v);
          if (xs === undefined) throw locate(fr, pos, err(`got ${typeName(v)} in sequence assignment`));
          if (xs.length !== n) {
            throw locate(
              fr,
              pos,
              err(xs.length > n ? `too many values to unpack (got ${xs.length}, want ${n})` : `too few values to unpack (got ${xs.length}, want ${n})`),
            );
          }
          if (v instanceof List) xs = xs.slice();
          for (let i = 0; i < n; i++) as[i](fr, xs[i]);
        };
      }
    }
    throw new StarlarkError(`cannot assign to ${lhs.kind}`, lhs.pos);
  }

  private augmented(op: string, lhs: Expr, rhs: Expr, pos: Position): Ex {
    while (lhs.kind === "Paren") lhs = lhs.x;
    const r = this.expr(rhs);
    const apply = (fr: Frame, x: Value, y: Value): Value => {
      if (op === "+" && typeof x === "number" && typeof y === "number") {
        const z = x + y;
        if (z <= MAX && z >= -MAX) return z;
      }
      if (op === "+" && typeof x === "string" && typeof y === "string") return x + y;
      try {
        if (op === "+" && x instanceof List) {
          const ys = y instanceof List || y instanceof Tuple ? y.elems : iterValues(y);
          if (ys !== undefined) {
            x.checkMutable("apply += to");
            for (const e of ys.slice()) x.elems.push(e);
            return x;
          }
        }
        if (op === "|" && x instanceof Dict && y instanceof Dict) {
          x.checkMutable("insert into");
          for (const [k, v] of y.entries()) x.set(k, v);
          return x;
        }
        return binary(op, x, y);
      } catch (e) {
        throw locate(fr, pos, e);
      }
    };
    if (lhs.kind === "Ident") {
      const get = this.expr(lhs),
        set = this.assigner(lhs);
      return (fr) => {
        set(fr, apply(fr, get(fr), r(fr)));
        return NORMAL;
      };
    }
    if (lhs.kind === "Index") {
      const x = this.expr(lhs.x),
        k = this.expr(lhs.index),
        ipos = lhs.pos;
      return (fr) => {
        const xv = x(fr),
          kv = k(fr);
        let old: Value;
        try {
          old = index(xv, kv);
        } catch (e) {
          throw locate(fr, ipos, e);
        }
        const nv = apply(fr, old, r(fr));
        try {
          setIndex(xv, kv, nv);
        } catch (e) {
          throw locate(fr, ipos, e);
        }
        return NORMAL;
      };
    }
    if (lhs.kind === "Dot") {
      const x = this.expr(lhs.x),
        name = lhs.name,
        dpos = lhs.pos;
      return (fr) => {
        const xv = x(fr);
        try {
          const nv = apply(fr, getAttr(xv, name), r(fr));
          setAttr(xv, name, nv);
        } catch (e) {
          throw locate(fr, dpos, e);
        }
        return NORMAL;
      };
    }
    throw new StarlarkError(`cannot perform augmented assignment`, pos);
  }

  private forStmt(vars: Expr, iter: Expr, bodyStmts: Stmt[], pos: Position, toplevel: boolean): Ex {
    const it = this.expr(iter);
    const body = this.block(bodyStmts, toplevel);
    const slot = vars.kind === "Ident" && vars.binding!.scope === "local" ? vars.binding!.index : -1;
    const assign = this.assigner(vars);
    const loopArray = (fr: Frame, xs: Value[]): number => {
      const th = fr.th;
      for (let i = 0; i < xs.length; i++) {
        if (++th.steps > th.maxSteps && th.outOfBudget()) throw locate(fr, pos, err(th.stopReason));
        if (slot >= 0) fr.l[slot] = xs[i];
        else assign(fr, xs[i]);
        const c = body(fr);
        if (c !== NORMAL) {
          if (c === BREAK) break;
          if (c === RETURN) return RETURN;
        }
      }
      return NORMAL;
    };
    return (fr) => {
      const x = it(fr);
      if (x instanceof List) {
        x.itercount++;
        try {
          return loopArray(fr, x.elems);
        } finally {
          x.itercount--;
        }
      }
      if (x instanceof Range) {
        const n = x.length,
          start = x.start,
          step = x.step,
          th = fr.th;
        for (let i = 0; i < n; i++) {
          if (++th.steps > th.maxSteps && th.outOfBudget()) throw locate(fr, pos, err(th.stopReason));
          const v = start + i * step;
          if (slot >= 0) fr.l[slot] = v;
          else assign(fr, v);
          const c = body(fr);
          if (c !== NORMAL) {
            if (c === BREAK) break;
            if (c === RETURN) return RETURN;
          }
        }
        return NORMAL;
      }
      if (x instanceof Tuple) return loopArray(fr, x.elems);
      if (x instanceof HashTable) {
        x.itercount++;
        try {
          return loopArray(fr, x.keys());
        } finally {
          x.itercount--;
        }
      }
      const xs = iterValues(x);
      if (xs === undefined) throw locate(fr, pos, err(`${typeName(x)} value is not iterable`));
      return loopArray(fr, xs);
    };
  }

  // ---------------------------------------------------------------- expressions

  /** An expression evaluated for its truth value. */
  private cond(e: Expr): (fr: Frame) => boolean {
    if (e.kind === "Unary" && e.op === "not") {
      const c = this.cond(e.x);
      return (fr) => !c(fr);
    }
    if (e.kind === "Paren") return this.cond(e.x);
    if (e.kind === "Binary" && ["<", "<=", ">", ">=", "==", "!=", "in", "not in"].includes(e.op)) {
      return this.expr(e) as (fr: Frame) => boolean; // always a bool
    }
    const x = this.expr(e);
    return (fr) => {
      const v = x(fr);
      return v === true ? true : v === false ? false : truth(v);
    };
  }

  expr(e: Expr): Ev {
    switch (e.kind) {
      case "Ident":
        return this.ident(e.binding!, e.pos);
      case "Literal": {
        let v: Value;
        if (e.tokKind === "FLOAT") v = new Float(e.value as number);
        else if (e.tokKind === "BYTES") v = new Bytes(e.value as Uint8Array);
        else v = e.value as Value;
        return () => v;
      }
      case "Paren":
        return this.expr(e.x);
      case "List": {
        const es = e.elems.map((x) => this.expr(x));
        const n = es.length;
        return (fr) => {
          const a = new Array<Value>(n);
          for (let i = 0; i < n; i++) a[i] = es[i](fr);
          return new List(a);
        };
      }
      case "Tuple": {
        const es = e.elems.map((x) => this.expr(x));
        const n = es.length;
        return (fr) => {
          const a = new Array<Value>(n);
          for (let i = 0; i < n; i++) a[i] = es[i](fr);
          return new Tuple(a);
        };
      }
      case "Dict": {
        const ks = e.entries.map((en) => this.expr(en.key));
        const vs = e.entries.map((en) => this.expr(en.value));
        const ps = e.entries.map((en) => en.pos);
        const n = ks.length;
        return (fr) => {
          const d = new Dict();
          for (let i = 0; i < n; i++) {
            const k = ks[i](fr),
              v = vs[i](fr);
            try {
              if (d.size > 0 && d.has(k)) throw err(`duplicate key: ${repr(k)}`);
              d.set(k, v);
            } catch (ex) {
              throw locate(fr, ps[i], ex);
            }
          }
          return d;
        };
      }
      case "Comp":
        return this.comprehension(e.curly, e.body, e.clauses);
      case "Cond": {
        const c = this.cond(e.cond),
          t = this.expr(e.then),
          f = this.expr(e.else_);
        return (fr) => (c(fr) ? t(fr) : f(fr));
      }
      case "Lambda":
        return this.makeFunction(
          e.fn!,
          e.params.map((p) => p.default_),
        );
      case "Unary": {
        if (e.op === "not") {
          const c = this.cond(e.x);
          return (fr) => !c(fr);
        }
        const x = this.expr(e.x),
          op = e.op,
          pos = e.pos;
        return (fr) => {
          const v = x(fr);
          if (op === "-" && typeof v === "number" && v !== 0) return -v;
          try {
            return unary(op, v);
          } catch (ex) {
            throw locate(fr, pos, ex);
          }
        };
      }
      case "Binary":
        return this.binaryExpr(e.op, e.x, e.y, e.pos);
      case "Dot": {
        const x = this.expr(e.x),
          name = e.name,
          pos = e.namePos;
        return (fr) => {
          const v = x(fr);
          try {
            return getAttr(v, name);
          } catch (ex) {
            throw locate(fr, pos, ex);
          }
        };
      }
      case "Call":
        return this.call(e.fn, e.args, e.lparen);
      case "Index": {
        const x = this.expr(e.x),
          k = this.expr(e.index),
          pos = e.pos;
        return (fr) => {
          const xv = x(fr),
            kv = k(fr);
          if (xv instanceof List && typeof kv === "number") {
            const el = xv.elems,
              j = kv < 0 ? kv + el.length : kv;
            if (j >= 0 && j < el.length) return el[j];
          } else if (xv instanceof Dict && typeof kv === "string") {
            const v = xv.getStr(kv);
            if (v !== undefined) return v;
          }
          try {
            return index(xv, kv);
          } catch (ex) {
            throw locate(fr, pos, ex);
          }
        };
      }
      case "Slice": {
        const x = this.expr(e.x),
          pos = e.pos;
        const none: Ev = () => null;
        const lo = e.lo ? this.expr(e.lo) : none,
          hi = e.hi ? this.expr(e.hi) : none,
          st = e.step ? this.expr(e.step) : none;
        return (fr) => {
          const xv = x(fr),
            a = lo(fr),
            b = hi(fr),
            c = st(fr);
          try {
            return slice(xv, a, b, c);
          } catch (ex) {
            throw locate(fr, pos, ex);
          }
        };
      }
    }
  }

  private ident(b: Binding, pos: Position): Ev {
    const i = b.index,
      name = b.name;
    switch (b.scope) {
      case "local":
        return (fr) => {
          const v = fr.l[i];
          if (v === undefined) throw locate(fr, pos, err(`local variable ${name} referenced before assignment`));
          return v;
        };
      case "cell":
        return (fr) => {
          const v = (fr.l[i] as unknown as Cell).v;
          if (v === undefined) throw locate(fr, pos, err(`local variable ${name} referenced before assignment`));
          return v;
        };
      case "free":
        return (fr) => {
          const v = fr.fn!.free[i].v;
          if (v === undefined) throw locate(fr, pos, err(`local variable ${name} referenced before assignment`));
          return v;
        };
      case "global": {
        const G = this.cx.globals;
        return (fr) => {
          const v = G[i];
          if (v === undefined) throw locate(fr, pos, err(`global variable ${name} referenced before assignment`));
          return v;
        };
      }
      case "predeclared": {
        const v = this.cx.predeclared.get(name);
        if (v === undefined) throw new StarlarkError(`undefined: ${name}`, pos);
        return () => v;
      }
      case "universal": {
        const v = this.cx.universe.get(name);
        if (v === undefined) throw new StarlarkError(`undefined: ${name}`, pos);
        return () => v;
      }
    }
    throw new StarlarkError(`undefined: ${name}`, pos);
  }

  /**
   * Closures specialised for an operand that is a local variable or an int constant: the
   * common shapes `n < 2`, `n - 1`, `i % 3`, `a + b` in loops and recursive functions.
   */
  private specialBinary(op: string, xe: Expr, ye: Expr, pos: Position): Ev | undefined {
    const localSlot = (e: Expr) => (e.kind === "Ident" && e.binding!.scope === "local" ? e.binding!.index : -1);
    const xi = localSlot(xe);
    if (xi < 0) return undefined;
    const xname = (xe as { name: string }).name;
    const yConst = ye.kind === "Literal" && ye.tokKind === "INT" && typeof ye.value === "number" ? (ye.value as number) : undefined;
    const yi = localSlot(ye);
    const yname = yi >= 0 ? (ye as { name: string }).name : "";
    const slow = (fr: Frame, a: Value, b: Value): Value => {
      if (a === undefined) throw locate(fr, xe.pos, err(`local variable ${xname} referenced before assignment`));
      if (b === undefined) throw locate(fr, ye.pos, err(`local variable ${yname} referenced before assignment`));
      try {
        return binary(op, a, b);
      } catch (ex) {
        throw locate(fr, pos, ex);
      }
    };
    if (yConst !== undefined) {
      const c = yConst;
      switch (op) {
        case "+":
          return (fr) => {
            const a = fr.l[xi];
            if (typeof a === "number") {
              const z = a + c;
              if (z <= MAX && z >= -MAX) return z;
            }
            return slow(fr, a, c);
          };
        case "-":
          return (fr) => {
            const a = fr.l[xi];
            if (typeof a === "number") {
              const z = a - c;
              if (z <= MAX && z >= -MAX) return z;
            }
            return slow(fr, a, c);
          };
        case "*":
          return (fr) => {
            const a = fr.l[xi];
            if (typeof a === "number") {
              const z = a * c;
              if (z <= MAX && z >= -MAX) return z === 0 ? 0 : z;
            }
            return slow(fr, a, c);
          };
        case "%":
          if (c > 0)
            return (fr) => {
              const a = fr.l[xi];
              if (typeof a === "number" && a >= 0) return a % c;
              return slow(fr, a, c);
            };
          break;
        case "<":
          return (fr) => {
            const a = fr.l[xi];
            return typeof a === "number" ? a < c : (slow(fr, a, c) as boolean);
          };
        case "<=":
          return (fr) => {
            const a = fr.l[xi];
            return typeof a === "number" ? a <= c : (slow(fr, a, c) as boolean);
          };
        case ">":
          return (fr) => {
            const a = fr.l[xi];
            return typeof a === "number" ? a > c : (slow(fr, a, c) as boolean);
          };
        case ">=":
          return (fr) => {
            const a = fr.l[xi];
            return typeof a === "number" ? a >= c : (slow(fr, a, c) as boolean);
          };
        case "==":
          return (fr) => {
            const a = fr.l[xi];
            return typeof a === "number" ? a === c : (slow(fr, a, c) as boolean);
          };
        case "!=":
          return (fr) => {
            const a = fr.l[xi];
            return typeof a === "number" ? a !== c : (slow(fr, a, c) as boolean);
          };
      }
      return undefined;
    }
    if (yi >= 0) {
      switch (op) {
        case "+":
          return (fr) => {
            const a = fr.l[xi],
              b = fr.l[yi];
            if (typeof a === "number" && typeof b === "number") {
              const z = a + b;
              if (z <= MAX && z >= -MAX) return z;
            } else if (typeof a === "string" && typeof b === "string") return a + b;
            return slow(fr, a, b);
          };
        case "-":
          return (fr) => {
            const a = fr.l[xi],
              b = fr.l[yi];
            if (typeof a === "number" && typeof b === "number") {
              const z = a - b;
              if (z <= MAX && z >= -MAX) return z;
            }
            return slow(fr, a, b);
          };
        case "*":
          return (fr) => {
            const a = fr.l[xi],
              b = fr.l[yi];
            if (typeof a === "number" && typeof b === "number") {
              const z = a * b;
              if (z <= MAX && z >= -MAX) return z === 0 ? 0 : z;
            }
            return slow(fr, a, b);
          };
        case "<":
          return (fr) => {
            const a = fr.l[xi],
              b = fr.l[yi];
            return typeof a === "number" && typeof b === "number" ? a < b : (slow(fr, a, b) as boolean);
          };
        case "==":
          return (fr) => {
            const a = fr.l[xi],
              b = fr.l[yi];
            return (typeof a === "number" && typeof b === "number") || (typeof a === "string" && typeof b === "string") ? a === b : (slow(fr, a, b) as boolean);
          };
      }
    }
    return undefined;
  }

  private binaryExpr(op: string, xe: Expr, ye: Expr, pos: Position): Ev {
    if (op === "and" || op === "or") {
      const x = this.expr(xe),
        y = this.expr(ye);
      if (op === "and")
        return (fr) => {
          const v = x(fr);
          return v === true || (v !== false && truth(v)) ? y(fr) : v;
        };
      return (fr) => {
        const v = x(fr);
        return v === true || (v !== false && truth(v)) ? v : y(fr);
      };
    }
    const special = this.specialBinary(op, xe, ye, pos);
    if (special) return special;
    const x = this.expr(xe),
      y = this.expr(ye);
    const slow = (fr: Frame, a: Value, b: Value): Value => {
      try {
        return binary(op, a, b);
      } catch (ex) {
        throw locate(fr, pos, ex);
      }
    };
    switch (op) {
      case "+":
        return (fr) => {
          const a = x(fr),
            b = y(fr);
          if (typeof a === "number" && typeof b === "number") {
            const z = a + b;
            if (z <= MAX && z >= -MAX) return z;
          } else if (typeof a === "string" && typeof b === "string") return a + b;
          return slow(fr, a, b);
        };
      case "-":
        return (fr) => {
          const a = x(fr),
            b = y(fr);
          if (typeof a === "number" && typeof b === "number") {
            const z = a - b;
            if (z <= MAX && z >= -MAX) return z;
          }
          return slow(fr, a, b);
        };
      case "*":
        return (fr) => {
          const a = x(fr),
            b = y(fr);
          if (typeof a === "number" && typeof b === "number") {
            const z = a * b;
            if (z <= MAX && z >= -MAX) return z === 0 ? 0 : z;
          }
          return slow(fr, a, b);
        };
      case "%":
        return (fr) => {
          const a = x(fr),
            b = y(fr);
          if (typeof a === "number" && typeof b === "number" && b > 0 && a >= 0) return a % b;
          if (typeof a === "string") {
            try {
              return percentFormat(a, b);
            } catch (ex) {
              throw locate(fr, pos, ex);
            }
          }
          return slow(fr, a, b);
        };
      case "//":
        return (fr) => {
          const a = x(fr),
            b = y(fr);
          if (typeof a === "number" && typeof b === "number" && b > 0 && a >= 0) return Math.floor(a / b);
          return slow(fr, a, b);
        };
      case "==":
        return (fr) => {
          const a = x(fr),
            b = y(fr);
          if (a === b) return true;
          if (typeof a === "string" || typeof a === "number") {
            if (typeof b === typeof a) return false;
          }
          return equals(a, b);
        };
      case "!=":
        return (fr) => {
          const a = x(fr),
            b = y(fr);
          if (a === b) return false;
          if (typeof a === "string" || typeof a === "number") {
            if (typeof b === typeof a) return true;
          }
          return !equals(a, b);
        };
      case "<":
      case "<=":
      case ">":
      case ">=": {
        const test = op === "<" ? (c: number) => c < 0 : op === "<=" ? (c: number) => c <= 0 : op === ">" ? (c: number) => c > 0 : (c: number) => c >= 0;
        const cmp = (fr: Frame, a: Value, b: Value): boolean => {
          try {
            return test(compare(op, a, b));
          } catch (ex) {
            throw locate(fr, pos, ex);
          }
        };
        if (op === "<")
          return (fr) => {
            const a = x(fr),
              b = y(fr);
            if (typeof a === "number" && typeof b === "number") return a < b;
            return cmp(fr, a, b);
          };
        if (op === "<=")
          return (fr) => {
            const a = x(fr),
              b = y(fr);
            if (typeof a === "number" && typeof b === "number") return a <= b;
            return cmp(fr, a, b);
          };
        if (op === ">")
          return (fr) => {
            const a = x(fr),
              b = y(fr);
            if (typeof a === "number" && typeof b === "number") return a > b;
            return cmp(fr, a, b);
          };
        return (fr) => {
          const a = x(fr),
            b = y(fr);
          if (typeof a === "number" && typeof b === "number") return a >= b;
          return cmp(fr, a, b);
        };
      }
      case "in":
      case "not in": {
        const neg = op === "not in";
        return (fr) => {
          const a = x(fr),
            b = y(fr);
          let r: boolean;
          if (b instanceof Dict && typeof a === "string") r = b.getStr(a) !== undefined;
          else {
            try {
              r = contains(b, a);
            } catch (ex) {
              throw locate(fr, pos, ex);
            }
          }
          return neg ? !r : r;
        };
      }
    }
    return (fr) => slow(fr, x(fr), y(fr));
  }

  private comprehension(curly: boolean, body: Expr | DictEntry, clauses: Clause[]): Ev {
    type Step = (fr: Frame, acc: Value[] | Dict) => void;
    let step: Step;
    if (curly) {
      const en = body as DictEntry;
      const k = this.expr(en.key),
        v = this.expr(en.value),
        pos = en.pos;
      step = (fr, acc) => {
        const kv = k(fr),
          vv = v(fr);
        try {
          (acc as Dict).set(kv, vv);
        } catch (ex) {
          throw locate(fr, pos, ex);
        }
      };
    } else {
      const b = this.expr(body as Expr);
      step = (fr, acc) => {
        (acc as Value[]).push(b(fr));
      };
    }
    for (let ci = clauses.length - 1; ci >= 0; ci--) {
      const c = clauses[ci];
      const next = step;
      if (c.kind === "if") {
        const cond = this.cond(c.cond);
        step = (fr, acc) => {
          if (cond(fr)) next(fr, acc);
        };
      } else {
        const it = this.expr(c.iter),
          pos = c.pos;
        const slot = c.vars.kind === "Ident" && c.vars.binding!.scope === "local" ? c.vars.binding!.index : -1;
        const assign = this.assigner(c.vars);
        step = (fr, acc) => {
          const x = it(fr);
          if (x instanceof Range) {
            const n = x.length;
            const th = fr.th;
            for (let i = 0; i < n; i++) {
              if (++th.steps > th.maxSteps && th.outOfBudget()) throw locate(fr, pos, err(th.stopReason));
              const v = x.start + i * x.step;
              if (slot >= 0) fr.l[slot] = v;
              else assign(fr, v);
              next(fr, acc);
            }
            return;
          }
          let xs: Value[] | undefined;
          const guard = x instanceof List || x instanceof HashTable ? x : undefined;
          if (x instanceof List || x instanceof Tuple) xs = x.elems;
          else xs = iterValues(x);
          if (xs === undefined) throw locate(fr, pos, err(`${typeName(x)} value is not iterable`));
          if (guard) guard.itercount++;
          const th = fr.th;
          try {
            for (let i = 0; i < xs.length; i++) {
              if (++th.steps > th.maxSteps && th.outOfBudget()) throw locate(fr, pos, err(th.stopReason));
              if (slot >= 0) fr.l[slot] = xs[i];
              else assign(fr, xs[i]);
              next(fr, acc);
            }
          } finally {
            if (guard) guard.itercount--;
          }
        };
      }
    }
    const run = step;
    if (curly)
      return (fr) => {
        const d = new Dict();
        run(fr, d);
        return d;
      };
    return (fr) => {
      const acc: Value[] = [];
      run(fr, acc);
      return new List(acc);
    };
  }

  private makeFunction(info: FunctionInfo, defaultExprs: (Expr | undefined)[]): Ev {
    const code = this.compileFunction(info);
    // Defaults in slot order: positional params, then keyword-only.
    const byName = new Map<string, Ev>();
    info.params.forEach((p, i) => {
      const d = defaultExprs[i];
      if (p.name && d) byName.set(p.name.name, this.expr(d));
    });
    const defaults = code.paramNames.map((n) => byName.get(n));
    const free = info.freevars.map((fb) => fb.outer!);
    const name = info.name;
    return (fr) => {
      const dv = defaults.map((d) => (d ? d(fr) : undefined));
      const cells = free.map((o) => (o.scope === "cell" ? (fr.l[o.index] as unknown as Cell) : fr.fn!.free[o.index]));
      return new StarFunction(name, code, dv, cells);
    };
  }

  private call(fnExpr: Expr, args: Arg[], pos: Position): Ev {
    const simple = args.every((a) => a.kind === "pos");
    const getArgs = this.args(args);
    if (fnExpr.kind === "Dot") {
      const recvE = this.expr(fnExpr.x),
        name = fnExpr.name,
        namePos = fnExpr.namePos;
      // (a name such as "toString" is not looked up in the method tables, which are plain objects)
      if (simple && !(name in Object.prototype)) {
        const es = args.map((a) => this.expr(a.value));
        const n = es.length;
        return (fr) => {
          // the receiver, its method (or an error), then the arguments, as starlark-go
          const recv = recvE(fr);
          const ms = methodsOf(recv);
          const m = ms !== undefined ? ms[name] : undefined;
          let f: Value = null;
          if (m === undefined) {
            try {
              f = getAttr(recv, name);
            } catch (ex) {
              throw locate(fr, namePos, ex);
            }
          }
          const a = new Array<Value>(n);
          for (let i = 0; i < n; i++) a[i] = es[i](fr);
          fr.callPos = pos;
          if (m !== undefined) {
            try {
              return m(fr.th, recv, a, NO_KWARGS);
            } catch (ex) {
              throw locate(fr, pos, ex);
            }
          }
          try {
            return callValue(fr.th, f, a, NO_KWARGS);
          } catch (ex) {
            throw locate(fr, pos, ex, calleeName(f));
          }
        };
      }
      return (fr) => {
        const recv = recvE(fr);
        let f: Value;
        try {
          f = getAttr(recv, name);
        } catch (ex) {
          throw locate(fr, namePos, ex);
        }
        const [a, kw] = getArgs(fr);
        fr.callPos = pos;
        try {
          return callValue(fr.th, f, a, kw);
        } catch (ex) {
          throw locate(fr, pos, ex, calleeName(f));
        }
      };
    }
    const fe = this.expr(fnExpr);
    // A global callee (the usual case) is read from the globals array in place.
    const G = this.cx.globals;
    const gi = fnExpr.kind === "Ident" && fnExpr.binding!.scope === "global" ? fnExpr.binding!.index : -1;
    if (simple) {
      const es = args.map((a) => this.expr(a.value));
      const n = es.length;
      if (n === 1) {
        const e0 = es[0];
        if (gi >= 0)
          return (fr) => {
            let f = G[gi];
            if (f === undefined) f = fe(fr);
            const a = [e0(fr)];
            fr.callPos = pos;
            try {
              if (f instanceof StarFunction) return callFunction(fr.th, f, a, NO_KWARGS);
              return callValue(fr.th, f, a, NO_KWARGS);
            } catch (ex) {
              throw locate(fr, pos, ex, calleeName(f));
            }
          };
        return (fr) => {
          const f = fe(fr);
          const a = [e0(fr)];
          fr.callPos = pos;
          try {
            if (f instanceof StarFunction) return callFunction(fr.th, f, a, NO_KWARGS);
            return callValue(fr.th, f, a, NO_KWARGS);
          } catch (ex) {
            throw locate(fr, pos, ex, calleeName(f));
          }
        };
      }
      return (fr) => {
        let f = gi >= 0 ? G[gi] : undefined;
        if (f === undefined) f = fe(fr);
        const a = new Array<Value>(n);
        for (let i = 0; i < n; i++) a[i] = es[i](fr);
        fr.callPos = pos;
        try {
          if (f instanceof StarFunction) return callFunction(fr.th, f, a, NO_KWARGS);
          return callValue(fr.th, f, a, NO_KWARGS);
        } catch (ex) {
          throw locate(fr, pos, ex, calleeName(f));
        }
      };
    }
    return (fr) => {
      const f = fe(fr);
      const [a, kw] = getArgs(fr);
      fr.callPos = pos;
      try {
        return callValue(fr.th, f, a, kw);
      } catch (ex) {
        throw locate(fr, pos, ex, calleeName(f));
      }
    };
  }

  private args(args: Arg[]): (fr: Frame) => [Value[], [string, Value][]] {
    const parts = args.map((a) => ({ kind: a.kind, name: a.name, ev: this.expr(a.value), pos: a.pos }));
    return (fr) => {
      const pos: Value[] = [];
      let kw: [string, Value][] = NO_KWARGS;
      for (const p of parts) {
        const v = p.ev(fr);
        switch (p.kind) {
          case "pos":
            pos.push(v);
            break;
          case "named":
            if (kw === NO_KWARGS) kw = [];
            kw.push([p.name!, v]);
            break;
          case "star": {
            const xs = v instanceof List || v instanceof Tuple ? v.elems : typeof v === "string" ? undefined : iterValues(v);
            if (xs === undefined) throw locate(fr, p.pos, err(`argument after * must be iterable, not ${typeName(v)}`));
            for (const x of xs) pos.push(x);
            break;
          }
          case "starstar": {
            if (!(v instanceof Dict)) throw locate(fr, p.pos, err(`argument after ** must be a mapping, not ${typeName(v)}`));
            if (kw === NO_KWARGS) kw = [];
            for (const [k, x] of v.entries()) {
              if (typeof k !== "string") throw locate(fr, p.pos, err(`keywords must be strings, not ${typeName(k)}`));
              if (kw.some(([n]) => n === k)) throw locate(fr, p.pos, err(`got multiple values for keyword argument ${quote(k)}`));
              kw.push([k, x]);
            }
            break;
          }
        }
      }
      return [pos, kw];
    };
  }
}

export { mustIterate };

/** The value `load("pkg/dir")` binds: the module's public globals as attributes. */
function moduleValue(path: string, globals: Map<string, Value>): Value {
  const attrs = new Map<string, Value>();
  for (const [k, v] of globals) if (!k.startsWith("_")) attrs.set(k, v);
  return new Struct(`module "${path}"`, attrs);
}
