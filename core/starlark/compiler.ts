// Compiler: the resolved syntax tree to JS closures. Every name was bound to a slot by the
// resolver, so the closures index arrays (locals, cells, free variables, globals) and never
// look names up in maps at run time.
import { generateBody } from "./codegen.js";
import { Position, StarlarkError } from "./errors.js";
import { getAttr, setAttr, slice } from "./ops.js";
import { H, locate } from "./runtime.js";
import { NO_KWARGS } from "./unpack.js";
import type { Arg, Binding, Clause, DictEntry, Expr, FunctionInfo, Stmt } from "./syntax.js";
import type { Frame } from "./thread.js";
import { Bytes, Cell, Dict, Float, FuncCode, List, Range, StarFunction, Tuple, Value, err, iterValues, typeName } from "./values.js";
import { quote, repr } from "./repr.js";
import { Struct } from "./struct.js";

type Ev = (fr: Frame) => Value;
type Ex = (fr: Frame) => number;
type Assign = (fr: Frame, v: Value) => void;

const NORMAL = 0,
  BREAK = 1,
  CONTINUE = 2,
  RETURN = 3;
const MAX = Number.MAX_SAFE_INTEGER;

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

/**
 * A for loop or a comprehension's for clause: body(v) for each element of x until it returns
 * BREAK or RETURN (returned). A range is not materialized; other iterables are taken as the
 * generated loop takes them (H.iter), a list or dict being iterated refusing mutation.
 */
function eachElement(fr: Frame, x: Value, pos: Position, body: (v: Value) => number): number {
  const th = fr.th;
  const r = x instanceof Range ? x : null;
  const xs = r === null ? H.iter(fr, x, pos) : null;
  const n = r === null ? xs!.length : r.length;
  const g = H.guard(x);
  if (g !== null) g.itercount++;
  try {
    for (let i = 0; i < n; i++) {
      if (++th.steps > th.maxSteps) H.cancel(fr, pos);
      const c = body(xs === null ? r!.start + i * r!.step : xs[i]);
      if (c === BREAK) break;
      if (c === RETURN) return RETURN;
    }
  } finally {
    if (g !== null) g.itercount--;
  }
  return NORMAL;
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
    code.direct = code.simple && code.cellSlots.length === 0 ? code.nparams : -1;
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
            if (++th.steps > th.maxSteps) H.cancel(fr, pos);
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
        return (fr, v) => H.seti(fr, x(fr), k(fr), v, pos);
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
          let xs = H.unpack(fr, v, n, pos);
          // the targets may assign into the list itself (a, xs[0] = xs): assign from a copy
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
    const apply = (fr: Frame, x: Value, y: Value): Value => H.aug(fr, op, x, y, pos);
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
        H.seti(fr, xv, kv, apply(fr, H.index(fr, xv, kv, ipos), r(fr)), ipos);
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
    const assign = this.assigner(vars);
    return (fr) =>
      eachElement(fr, it(fr), pos, (v) => {
        assign(fr, v);
        return body(fr);
      });
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
    return (fr) => H.truthy(x(fr));
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
        return (fr) => H.neg(fr, op, x(fr), pos);
      }
      case "Binary":
        return this.binaryExpr(e.op, e.x, e.y, e.pos);
      case "Dot": {
        const x = this.expr(e.x),
          name = e.name,
          pos = e.namePos;
        return (fr) => H.attr(fr, x(fr), name, pos);
      }
      case "Call":
        return this.call(e.fn, e.args, e.lparen);
      case "Index": {
        const x = this.expr(e.x),
          k = this.expr(e.index),
          pos = e.pos;
        return (fr) => H.index(fr, x(fr), k(fr), pos);
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

  private binaryExpr(op: string, xe: Expr, ye: Expr, pos: Position): Ev {
    const x = this.expr(xe),
      y = this.expr(ye);
    switch (op) {
      case "and":
        return (fr) => {
          const v = x(fr);
          return H.truthy(v) ? y(fr) : v;
        };
      case "or":
        return (fr) => {
          const v = x(fr);
          return H.truthy(v) ? v : y(fr);
        };
      case "+":
        return (fr) => H.add(fr, x(fr), y(fr), pos);
      case "-":
        return (fr) => H.sub(fr, x(fr), y(fr), pos);
      case "*":
        return (fr) => H.mul(fr, x(fr), y(fr), pos);
      case "%":
        return (fr) => H.mod(fr, x(fr), y(fr), pos);
      case "//":
        return (fr) => H.floordiv(fr, x(fr), y(fr), pos);
      case "==":
        return (fr) => H.eq(x(fr), y(fr));
      case "!=":
        return (fr) => !H.eq(x(fr), y(fr));
      case "<":
        return (fr) => H.lt(fr, x(fr), y(fr), pos);
      case "<=":
        return (fr) => H.le(fr, x(fr), y(fr), pos);
      case ">":
        return (fr) => H.gt(fr, x(fr), y(fr), pos);
      case ">=":
        return (fr) => H.ge(fr, x(fr), y(fr), pos);
      case "in":
        return (fr) => H.in_(fr, x(fr), y(fr), pos);
      case "not in":
        return (fr) => !H.in_(fr, x(fr), y(fr), pos);
    }
    return (fr) => H.bin(fr, op, x(fr), y(fr), pos);
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
        const assign = this.assigner(c.vars);
        step = (fr, acc) => {
          eachElement(fr, it(fr), pos, (v) => {
            assign(fr, v);
            next(fr, acc);
            return NORMAL;
          });
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
    const es = simple ? args.map((a) => this.expr(a.value)) : [];
    const n = es.length;
    if (fnExpr.kind === "Dot") {
      const recvE = this.expr(fnExpr.x),
        name = fnExpr.name,
        namePos = fnExpr.namePos;
      // (a name such as "toString" is not looked up in the method tables, which are plain objects)
      if (simple && !(name in Object.prototype)) {
        return (fr) => {
          // the receiver, its method (or an error), then the arguments, as starlark-go
          const recv = recvE(fr);
          const m = H.mlook(fr, recv, name, namePos);
          const a = new Array<Value>(n);
          for (let i = 0; i < n; i++) a[i] = es[i](fr);
          return H.mcall(fr, recv, m, a, pos);
        };
      }
      const getArgs = this.args(args);
      return (fr) => {
        const f = H.attr(fr, recvE(fr), name, namePos);
        const [a, kw] = getArgs(fr);
        return H.callv(fr, f, a, kw, pos);
      };
    }
    const fe = this.expr(fnExpr);
    if (simple) {
      const [e0, e1, e2] = es;
      switch (n) {
        case 0:
          return (fr) => H.invoke(fr, fe(fr), [], pos, 0);
        case 1:
          return (fr) => {
            const f = fe(fr);
            return H.invoke(fr, f, [e0(fr)], pos, 1);
          };
        case 2:
          return (fr) => {
            const f = fe(fr);
            return H.invoke(fr, f, [e0(fr), e1(fr)], pos, 2);
          };
        case 3:
          return (fr) => {
            const f = fe(fr);
            return H.invoke(fr, f, [e0(fr), e1(fr), e2(fr)], pos, 3);
          };
      }
      return (fr) => {
        const f = fe(fr);
        const a = new Array<Value>(n);
        for (let i = 0; i < n; i++) a[i] = es[i](fr);
        return H.invoke(fr, f, a, pos, n);
      };
    }
    const getArgs = this.args(args);
    return (fr) => {
      const f = fe(fr);
      const [a, kw] = getArgs(fr);
      return H.callv(fr, f, a, kw, pos);
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

/** The value `load("pkg/dir")` binds: the module's public globals as attributes. */
function moduleValue(path: string, globals: Map<string, Value>): Value {
  const attrs = new Map<string, Value>();
  for (const [k, v] of globals) if (!k.startsWith("_")) attrs.set(k, v);
  return new Struct(`module "${path}"`, attrs);
}
