// Codegen: a function body to JavaScript source, compiled once with `new Function`, so V8
// sees real control flow (if/for/while/return/break) and one call site per operation, and
// can inline the small operator helpers below. Locals stay in the frame's slot array, so
// any construct not generated here is delegated to the closure the Compiler makes for it
// (comprehensions, dict literals, lambdas, keyword calls, ...), and the two mix freely.
//
// Node only (the renderer never imports the interpreter). Nothing from the program is
// spliced into the source except JSON-quoted strings and safe integers; every other value
// is passed in an array.
import { Position, StarlarkError } from "./errors.js";
import { binary, contains, getAttr, index, methodsOf, setIndex, unary } from "./ops.js";
import { formatOne, parseFormat, percentFormat } from "./string.js";
import type { Method } from "./string.js";
import type { DictEntry, Expr, FunctionInfo, Stmt } from "./syntax.js";
import { Frame } from "./thread.js";
import { NO_KWARGS } from "./unpack.js";
import { Builtin, Dict, HashTable, List, Range, StarFunction, Tuple, Value, compare, equals, err, iterValues, repr, str, truth, typeName } from "./values.js";
import type { Compiler } from "./compiler.js";
import { callFunction, callValue, enterFunction, locate } from "./compiler.js";
import { UNIVERSE, parseInt_ } from "./builtins.js";

const BUILTIN_LEN = UNIVERSE.get("len"),
  BUILTIN_STR = UNIVERSE.get("str"),
  BUILTIN_INT = UNIVERSE.get("int");

type Ev = (fr: Frame) => Value;
type Ex = (fr: Frame) => number;
type Assign = (fr: Frame, v: Value) => void;

const MAX = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------- runtime helpers

function calleeName(f: Value): string | undefined {
  return f instanceof Builtin ? f.name : undefined;
}

function slowBin(fr: Frame, op: string, a: Value, b: Value, pos: Position): Value {
  try {
    return binary(op, a, b);
  } catch (ex) {
    throw locate(fr, pos, ex);
  }
}

function cmp(fr: Frame, op: string, a: Value, b: Value, pos: Position): number {
  try {
    return compare(op, a, b);
  } catch (ex) {
    throw locate(fr, pos, ex);
  }
}

const H = {
  truthy(v: Value): boolean {
    return v === true ? true : v === false ? false : truth(v);
  },
  add(fr: Frame, a: Value, b: Value, pos: Position): Value {
    if (typeof a === "number" && typeof b === "number") {
      const z = a + b;
      if (z <= MAX && z >= -MAX) return z;
    } else if (typeof a === "string" && typeof b === "string") return a + b;
    return slowBin(fr, "+", a, b, pos);
  },
  sub(fr: Frame, a: Value, b: Value, pos: Position): Value {
    if (typeof a === "number" && typeof b === "number") {
      const z = a - b;
      if (z <= MAX && z >= -MAX) return z;
    }
    return slowBin(fr, "-", a, b, pos);
  },
  mul(fr: Frame, a: Value, b: Value, pos: Position): Value {
    if (typeof a === "number" && typeof b === "number") {
      const z = a * b;
      if (z <= MAX && z >= -MAX) return z === 0 ? 0 : z;
    }
    return slowBin(fr, "*", a, b, pos);
  },
  mod(fr: Frame, a: Value, b: Value, pos: Position): Value {
    if (typeof a === "number" && typeof b === "number" && b > 0 && a >= 0) return a % b;
    if (typeof a === "string") {
      try {
        return percentFormat(a, b);
      } catch (ex) {
        throw locate(fr, pos, ex);
      }
    }
    return slowBin(fr, "%", a, b, pos);
  },
  floordiv(fr: Frame, a: Value, b: Value, pos: Position): Value {
    if (typeof a === "number" && typeof b === "number" && b > 0 && a >= 0) return Math.floor(a / b);
    return slowBin(fr, "//", a, b, pos);
  },
  /** one `%` conversion of a literal format string (`conv` is s, d or i) */
  fc(fr: Frame, v: Value, conv: string, pos: Position): string {
    if (typeof v === "number") return "" + v;
    if (typeof v === "string" && conv === "s") return v;
    try {
      return formatOne(conv, v);
    } catch (ex) {
      throw locate(fr, pos, ex);
    }
  },
  /** `"pre%dpost" % x` with a literal format of one conversion (a tuple x: the general path) */
  pf1(fr: Frame, x: Value, pre: string, conv: string, post: string, fmt: string, pos: Position): Value {
    if (typeof x === "number") return pre + x + post;
    if (typeof x === "string" && conv === "s") return pre + x + post;
    if (x instanceof Tuple) return H.mod(fr, fmt, x, pos);
    try {
      return pre + formatOne(conv, x) + post;
    } catch (ex) {
      throw locate(fr, pos, ex);
    }
  },
  /** a `{name}` field of a literal str.format */
  fs(fr: Frame, v: Value, pos: Position): string {
    if (typeof v === "string") return v;
    if (typeof v === "number") return "" + v;
    try {
      return str(v);
    } catch (ex) {
      throw locate(fr, pos, ex);
    }
  },
  fr(fr: Frame, v: Value, pos: Position): string {
    try {
      return repr(v);
    } catch (ex) {
      throw locate(fr, pos, ex);
    }
  },
  bin(fr: Frame, op: string, a: Value, b: Value, pos: Position): Value {
    return slowBin(fr, op, a, b, pos);
  },
  eq(a: Value, b: Value): boolean {
    if (a === b) return true;
    if ((typeof a === "string" || typeof a === "number") && typeof b === typeof a) return false;
    return equals(a, b);
  },
  lt(fr: Frame, a: Value, b: Value, pos: Position): boolean {
    if (typeof a === "number" && typeof b === "number") return a < b;
    return cmp(fr, "<", a, b, pos) < 0;
  },
  le(fr: Frame, a: Value, b: Value, pos: Position): boolean {
    if (typeof a === "number" && typeof b === "number") return a <= b;
    return cmp(fr, "<=", a, b, pos) <= 0;
  },
  gt(fr: Frame, a: Value, b: Value, pos: Position): boolean {
    if (typeof a === "number" && typeof b === "number") return a > b;
    return cmp(fr, ">", a, b, pos) > 0;
  },
  ge(fr: Frame, a: Value, b: Value, pos: Position): boolean {
    if (typeof a === "number" && typeof b === "number") return a >= b;
    return cmp(fr, ">=", a, b, pos) >= 0;
  },
  in_(fr: Frame, a: Value, b: Value, pos: Position): boolean {
    if (b instanceof Dict && typeof a === "string") return b.getStr(a) !== undefined;
    try {
      return contains(b, a);
    } catch (ex) {
      throw locate(fr, pos, ex);
    }
  },
  neg(fr: Frame, op: string, v: Value, pos: Position): Value {
    if (op === "-" && typeof v === "number" && v !== 0) return -v;
    try {
      return unary(op, v);
    } catch (ex) {
      throw locate(fr, pos, ex);
    }
  },
  index(fr: Frame, xv: Value, kv: Value, pos: Position): Value {
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
  },
  call(fr: Frame, f: Value, a: Value[], pos: Position): Value {
    fr.callPos = pos;
    try {
      if (f instanceof StarFunction) return callFunction(fr.th, f, a, NO_KWARGS);
      return callValue(fr.th, f, a, NO_KWARGS);
    } catch (ex) {
      throw locate(fr, pos, ex, calleeName(f));
    }
  },
  /** f(a0, ...) with 0 to 3 positional arguments: a Starlark function of exactly that many
   * parameters gets its locals array directly (no argument array to grow) */
  call0(fr: Frame, f: Value, pos: Position): Value {
    if (f instanceof StarFunction && simpleArity(f) === 0) return H.enter(fr, f, new Array(f.code.nlocals), pos);
    return H.call(fr, f, [], pos);
  },
  call1(fr: Frame, f: Value, a0: Value, pos: Position): Value {
    if (f instanceof StarFunction) {
      // the common case written out: a generated function of one parameter and no cells
      const code = f.code as typeof f.code & { active: number; recursion: boolean; direct: number };
      if (code.direct === 1) {
        const th = fr.th;
        if ((code.active > 0 && !code.recursion) || th.frames.length >= th.maxDepth || th.steps + 1 > th.maxSteps) return H.call(fr, f, [a0], pos);
        th.steps++;
        fr.callPos = pos;
        let l: Value[];
        if (code.nlocals === 1)
          l = [a0]; // a literal: allocated inline by optimized code
        else {
          l = new Array(code.nlocals);
          l[0] = a0;
        }
        const callee = new Frame(l, f, th, f.name);
        th.frames.push(callee);
        code.active++;
        let r: Value;
        try {
          r = code.body(callee) as Value;
        } catch (ex) {
          code.active--;
          th.frames.pop();
          throw locate(fr, pos, ex);
        }
        code.active--;
        th.frames.pop();
        return r;
      }
    }
    if (f instanceof StarFunction && simpleArity(f) === 1) {
      const l = new Array(f.code.nlocals);
      l[0] = a0;
      return H.enter(fr, f, l, pos);
    }
    return H.call(fr, f, [a0], pos);
  },
  call2(fr: Frame, f: Value, a0: Value, a1: Value, pos: Position): Value {
    if (f instanceof StarFunction && simpleArity(f) === 2) {
      const n = f.code.nlocals;
      let l: Value[];
      if (n === 2) l = [a0, a1];
      else {
        l = new Array(n);
        l[0] = a0;
        l[1] = a1;
      }
      return H.enter(fr, f, l, pos);
    }
    return H.call(fr, f, [a0, a1], pos);
  },
  call3(fr: Frame, f: Value, a0: Value, a1: Value, a2: Value, pos: Position): Value {
    if (f instanceof StarFunction && simpleArity(f) === 3) {
      const n = f.code.nlocals;
      let l: Value[];
      if (n === 3) l = [a0, a1, a2];
      else {
        l = new Array(n);
        l[0] = a0;
        l[1] = a1;
        l[2] = a2;
      }
      return H.enter(fr, f, l, pos);
    }
    return H.call(fr, f, [a0, a1, a2], pos);
  },
  /** callFunction's checks, then the body on locals l (enterFunction, with one try) */
  enter(fr: Frame, f: StarFunction, l: Value[], pos: Position): Value {
    fr.callPos = pos;
    const th = fr.th,
      code = f.code as typeof f.code & { active: number; recursion: boolean; generated: boolean };
    if (code.active > 0 && !code.recursion) throw locate(fr, pos, err(`function ${f.name} called recursively`));
    if (th.frames.length >= th.maxDepth) throw locate(fr, pos, err(`stack overflow: more than ${th.maxDepth} nested calls`));
    if (++th.steps > th.maxSteps && th.outOfBudget()) throw locate(fr, pos, err(th.stopReason));
    if (!code.generated || code.cellSlots.length > 0) {
      try {
        return enterFunction(th, f, l);
      } catch (ex) {
        throw locate(fr, pos, ex);
      }
    }
    const callee = new Frame(l, f, th, f.name);
    th.frames.push(callee);
    code.active++;
    let r: Value;
    try {
      r = code.body(callee) as Value;
    } catch (ex) {
      code.active--;
      th.frames.pop();
      throw locate(fr, pos, ex);
    }
    code.active--;
    th.frames.pop();
    return r;
  },
  meth(fr: Frame, recv: Value, name: string, a: Value[], pos: Position, namePos: Position): Value {
    fr.callPos = pos;
    const ms = methodsOf(recv);
    if (ms !== undefined) {
      const m = ms[name];
      if (m !== undefined) {
        try {
          return m(fr.th, recv, a, NO_KWARGS);
        } catch (ex) {
          throw locate(fr, pos, ex);
        }
      }
    }
    let f: Value;
    try {
      f = getAttr(recv, name);
    } catch (ex) {
      throw locate(fr, namePos, ex);
    }
    try {
      return callValue(fr.th, f, a, NO_KWARGS);
    } catch (ex) {
      throw locate(fr, pos, ex, calleeName(f));
    }
  },
  /** recv's method name (a method table entry) or attribute, before the arguments are evaluated */
  mlook(fr: Frame, recv: Value, name: string, namePos: Position): Method | Value {
    const ms = methodsOf(recv);
    if (ms !== undefined) {
      const m = ms[name];
      if (m !== undefined) return m;
    }
    try {
      return getAttr(recv, name);
    } catch (ex) {
      throw locate(fr, namePos, ex);
    }
  },
  mcall(fr: Frame, recv: Value, m: Method | Value, a: Value[], pos: Position): Value {
    fr.callPos = pos;
    if (typeof m === "function") {
      try {
        return m(fr.th, recv, a, NO_KWARGS);
      } catch (ex) {
        throw locate(fr, pos, ex);
      }
    }
    try {
      return callValue(fr.th, m, a, NO_KWARGS);
    } catch (ex) {
      throw locate(fr, pos, ex, calleeName(m));
    }
  },
  attr(fr: Frame, recv: Value, name: string, pos: Position): Value {
    try {
      return getAttr(recv, name);
    } catch (ex) {
      throw locate(fr, pos, ex);
    }
  },
  callkw(fr: Frame, f: Value, a: Value[], names: string[], vals: Value[], pos: Position): Value {
    if (f instanceof StarFunction && simpleArity(f) >= a.length) {
      // keywords bound straight into the callee's locals; anything irregular (an unknown,
      // repeated or missing parameter) takes the general path for its error
      const code = f.code,
        np = simpleArity(f),
        pn = code.paramNames;
      const l: Value[] = new Array(code.nlocals);
      for (let i = 0; i < a.length; i++) l[i] = a[i];
      let ok = true;
      for (let k = 0; k < names.length; k++) {
        const i = pn.indexOf(names[k]);
        if (i < 0 || l[i] !== undefined) {
          ok = false;
          break;
        }
        l[i] = vals[k];
      }
      if (ok) {
        for (let i = 0; i < np; i++) {
          if (l[i] === undefined) {
            const d = f.defaults[i];
            if (d === undefined) {
              ok = false;
              break;
            }
            l[i] = d;
          }
        }
      }
      if (ok) return H.enter(fr, f, l, pos);
    }
    const kw: [string, Value][] = new Array(names.length);
    for (let i = 0; i < names.length; i++) kw[i] = [names[i], vals[i]];
    fr.callPos = pos;
    try {
      return callValue(fr.th, f, a, kw);
    } catch (ex) {
      throw locate(fr, pos, ex, calleeName(f));
    }
  },
  /** the elements for `a, b = v` (Compiler.assigner's Tuple case) */
  unpack(fr: Frame, v: Value, n: number, pos: Position): Value[] {
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
    return xs;
  },
  /** len(x), str(x), int(x): the common cases inline, the builtin otherwise */
  len1(fr: Frame, f: Value, x: Value, pos: Position): Value {
    if (f === BUILTIN_LEN) {
      if (x instanceof List || x instanceof Tuple) return x.elems.length;
      if (x instanceof HashTable) return x.size;
      if (typeof x === "string") return x.length;
    }
    return H.call(fr, f, [x], pos);
  },
  str1(fr: Frame, f: Value, x: Value, pos: Position): Value {
    if (f === BUILTIN_STR) {
      if (typeof x === "string") return x;
      if (typeof x === "number") return "" + x;
    }
    return H.call(fr, f, [x], pos);
  },
  int1(fr: Frame, f: Value, x: Value, pos: Position): Value {
    if (f === BUILTIN_INT) {
      if (typeof x === "number") return x;
      if (typeof x === "string") {
        const n = parseInt_(x, 10);
        if (n !== undefined) return n;
      }
    }
    return H.call(fr, f, [x], pos);
  },
  /** the second value of the last split2 */
  r2: null as Value,
  /** `a, b = s.split(sep)`: returns a, leaves b in H.r2 */
  split2(fr: Frame, recv: Value, sep: Value, pos: Position, namePos: Position, lhsPos: Position): Value {
    if (typeof recv === "string" && typeof sep === "string" && sep.length > 0) {
      const i = recv.indexOf(sep);
      if (i >= 0 && recv.indexOf(sep, i + sep.length) < 0) {
        H.r2 = recv.slice(i + sep.length);
        return recv.slice(0, i);
      }
    }
    const xs = H.unpack(fr, H.meth(fr, recv, "split", [sep], pos, namePos), 2, lhsPos);
    H.r2 = xs[1];
    return xs[0];
  },
  /** d.get(k) / d.get(k, dflt) (dflt undefined: not given) */
  dget(fr: Frame, recv: Value, k: Value, dflt: Value | undefined, pos: Position, namePos: Position): Value {
    if (recv instanceof Dict && (typeof k === "string" || typeof k === "number")) {
      const v = typeof k === "string" ? recv.getStr(k) : recv.get(k);
      return v !== undefined ? v : dflt === undefined ? null : dflt;
    }
    return H.meth(fr, recv, "get", dflt === undefined ? [k] : [k, dflt], pos, namePos);
  },
  /** xs.append(x) */
  append(fr: Frame, recv: Value, x: Value, pos: Position, namePos: Position): Value {
    if (recv instanceof List && !recv.frozen && recv.itercount === 0) {
      recv.elems.push(x);
      return null;
    }
    return H.meth(fr, recv, "append", [x], pos, namePos);
  },
  /** a dict literal of distinct string-literal keys: e is keys and values interleaved */
  sdict(e: Value[]): Dict {
    return new Dict().adoptStrEntries(e);
  },
  /** x[k] = v (Compiler.assigner's Index case) */
  seti(fr: Frame, xv: Value, kv: Value, v: Value, pos: Position): void {
    if (xv instanceof List && typeof kv === "number" && !xv.frozen && xv.itercount === 0) {
      const el = xv.elems,
        j = kv < 0 ? kv + el.length : kv;
      if (j >= 0 && j < el.length) {
        el[j] = v;
        return;
      }
    } else if (xv instanceof Dict && typeof kv === "string" && !xv.frozen && xv.itercount === 0) {
      xv.set(kv, v);
      return;
    }
    try {
      setIndex(xv, kv, v);
    } catch (ex) {
      throw locate(fr, pos, ex);
    }
  },
  dict(): Dict {
    return new Dict();
  },
  dset(fr: Frame, d: Dict, k: Value, v: Value, pos: Position): void {
    try {
      d.set(k, v);
    } catch (ex) {
      throw locate(fr, pos, ex);
    }
  },
  list(a: Value[]): Value {
    return new List(a);
  },
  tuple(a: Value[]): Value {
    return new Tuple(a);
  },
  cancel(fr: Frame, pos: Position): void {
    if (fr.th.outOfBudget()) throw locate(fr, pos, err(fr.th.stopReason));
  },
  /** The elements to loop over (List/Tuple elements live, others a snapshot). */
  iter(fr: Frame, x: Value, pos: Position): Value[] {
    if (x instanceof List || x instanceof Tuple) return x.elems;
    if (x instanceof HashTable) return x.keys();
    const xs = iterValues(x);
    if (xs === undefined) throw locate(fr, pos, err(`${typeName(x)} value is not iterable`));
    return xs;
  },
  guard(x: Value): List | HashTable | null {
    return x instanceof List || x instanceof HashTable ? x : null;
  },
  /** `x op= y` (apply of Compiler.augmented): list += extends in place, dict |= updates */
  aug(fr: Frame, op: string, x: Value, y: Value, pos: Position): Value {
    if (op === "+") {
      if (typeof x === "number" && typeof y === "number") {
        const z = x + y;
        if (z <= MAX && z >= -MAX) return z;
      } else if (typeof x === "string" && typeof y === "string") return x + y;
    }
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
  },
  Range,
};

/** the number of parameters of a function called with positional arguments only, or -1 */
function simpleArity(f: StarFunction): number {
  const code = f.code as typeof f.code & { simple: boolean; nparams: number };
  return code.simple ? code.nparams : -1;
}

// ---------------------------------------------------------------- generator

const BIN: Record<string, string> = { "+": "add", "-": "sub", "*": "mul", "%": "mod", "//": "floordiv" };
const CMP: Record<string, string> = { "<": "lt", "<=": "le", ">": "gt", ">=": "ge" };

class Unsupported extends Error {}

/** one-argument universal builtins with an inline fast path (H[name] falls back to the call) */
const FAST1: Record<string, string> = { len: "len1", str: "str1", int: "int1" };

/** A literal `%` format of only %s, %d, %i and %%: its literal pieces around the conversions. */
function simplePercent(fmt: string): { lits: string[]; convs: string[] } | undefined {
  const lits: string[] = [],
    convs: string[] = [];
  let lit = "";
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i];
    if (c !== "%") {
      lit += c;
      continue;
    }
    const d = fmt[++i];
    if (d === "%") {
      lit += "%";
      continue;
    }
    if (d !== "s" && d !== "d" && d !== "i") return undefined;
    lits.push(lit);
    convs.push(d);
    lit = "";
  }
  lits.push(lit);
  return { lits, convs };
}

/** A literal str.format of only `{name}` / `{name!r}` fields, all among `names`. */
function simpleFormat(fmt: string, names: string[]): (string | { name: string; repr: boolean })[] | undefined {
  let parts;
  try {
    parts = parseFormat(fmt);
  } catch {
    return undefined; // the call reports it
  }
  const out: (string | { name: string; repr: boolean })[] = [];
  for (const p of parts) {
    if (typeof p === "string") out.push(p);
    else if (p.field === "name" && names.includes(p.name)) out.push({ name: p.name, repr: p.repr });
    else return undefined;
  }
  return out;
}

class Gen {
  K: unknown[] = [];
  E: Ev[] = [];
  S: Ex[] = [];
  A: Assign[] = [];
  P: Position[] = [];
  private tmp = 0;
  /** inside the body of a `for x in s.split(sep)` loop (generated twice) */
  private inSplit = false;
  /** temporaries declared at the top of the body */
  temps: string[] = [];

  constructor(
    private c: Compiler,
    private info: FunctionInfo,
    private G: Value[],
  ) {}

  private k(v: unknown): string {
    this.K.push(v);
    return `K[${this.K.length - 1}]`;
  }
  private p(pos: Position): string {
    this.P.push(pos);
    return `P[${this.P.length - 1}]`;
  }
  private temp(): string {
    const t = `t${this.temps.length}`;
    this.temps.push(t);
    return t;
  }
  private delegate(e: Expr): string {
    this.E.push(this.c.expr(e));
    return `E[${this.E.length - 1}](fr)`;
  }

  /** parameters are bound on entry and there is no `del`, so they need no check */
  private isParam(i: number): boolean {
    const info = this.info;
    return i < info.numParams + (info.hasVarargs ? 1 : 0) + (info.hasKwargs ? 1 : 0);
  }

  expr(e: Expr): string {
    switch (e.kind) {
      case "Paren":
        return this.expr(e.x);
      case "Ident": {
        const b = e.binding!;
        if (b.scope === "local") {
          if (this.isParam(b.index)) return `l[${b.index}]`;
          return `((v = l[${b.index}]) !== undefined ? v : ${this.delegate(e)})`;
        }
        if (b.scope === "global") return `((v = G[${b.index}]) !== undefined ? v : ${this.delegate(e)})`;
        if (b.scope === "predeclared" || b.scope === "universal") {
          const f = this.c.expr(e); // throws "undefined: x" at compile time, as before
          return this.k(f(null as unknown as Frame));
        }
        return this.delegate(e);
      }
      case "Literal":
        if (e.tokKind === "INT" && typeof e.value === "number" && Number.isSafeInteger(e.value)) return `${e.value}`;
        if (e.tokKind === "STRING") return JSON.stringify(e.value);
        return this.delegate(e);
      case "Binary": {
        const op = e.op;
        if (op === "and") return `(H.truthy(v = ${this.expr(e.x)}) ? ${this.expr(e.y)} : v)`;
        if (op === "or") return `(H.truthy(v = ${this.expr(e.x)}) ? v : ${this.expr(e.y)})`;
        if (op === "%" && e.x.kind === "Literal" && e.x.tokKind === "STRING") {
          const fmt = e.x.value as string,
            sp = simplePercent(fmt);
          let y = e.y;
          while (y.kind === "Paren") y = y.x;
          if (sp !== undefined) {
            const pos = this.p(e.pos),
              q = JSON.stringify;
            if (y.kind === "Tuple" && y.elems.length === sp.convs.length) {
              // "%s=%s" % (k, v): no tuple; the operands are all evaluated first, as before
              const ts = y.elems.map(() => this.temp());
              const evals = y.elems.map((el, i) => `${ts[i]} = ${this.expr(el)}`);
              const cat = [q(sp.lits[0])];
              sp.convs.forEach((c, i) => {
                cat.push(`H.fc(fr, ${ts[i]}, "${c}", ${pos})`, q(sp.lits[i + 1]));
              });
              if (cat.length > 5) return `(${evals.join(", ")}, [${cat.join(", ")}].join(""))`; // flat, as in format below
              return `(${evals.join(", ")}, ${cat.join(" + ")})`;
            }
            if (y.kind !== "Tuple" && sp.convs.length === 1) {
              return `H.pf1(fr, ${this.expr(e.y)}, ${q(sp.lits[0])}, "${sp.convs[0]}", ${q(sp.lits[1])}, ${q(fmt)}, ${pos})`;
            }
          }
        }
        const x = this.expr(e.x),
          y = this.expr(e.y),
          pos = this.p(e.pos);
        if (BIN[op]) return `H.${BIN[op]}(fr, ${x}, ${y}, ${pos})`;
        if (CMP[op]) return `H.${CMP[op]}(fr, ${x}, ${y}, ${pos})`;
        if (op === "==") return `H.eq(${x}, ${y})`;
        if (op === "!=") return `!H.eq(${x}, ${y})`;
        if (op === "in") return `H.in_(fr, ${x}, ${y}, ${pos})`;
        if (op === "not in") return `!H.in_(fr, ${x}, ${y}, ${pos})`;
        return `H.bin(fr, ${JSON.stringify(op)}, ${x}, ${y}, ${pos})`;
      }
      case "Unary":
        if (e.op === "not") return `!H.truthy(${this.expr(e.x)})`;
        return `H.neg(fr, ${JSON.stringify(e.op)}, ${this.expr(e.x)}, ${this.p(e.pos)})`;
      case "Cond":
        return `(H.truthy(${this.expr(e.cond)}) ? ${this.expr(e.then)} : ${this.expr(e.else_)})`;
      case "Index":
        return `H.index(fr, ${this.expr(e.x)}, ${this.expr(e.index)}, ${this.p(e.pos)})`;
      case "Dict": {
        const keys = e.entries.map((en) => (en.key.kind === "Literal" && en.key.tokKind === "STRING" ? (en.key.value as string) : undefined));
        if (keys.every((k) => k !== undefined) && new Set(keys).size === keys.length) {
          // {"name": x, ...}: no duplicate is possible and string keys need no hashing
          return `H.sdict([${e.entries.map((en) => `${JSON.stringify(keys[e.entries.indexOf(en)])}, ${this.expr(en.value)}`).join(", ")}])`;
        }
        return this.delegate(e);
      }
      case "List":
        return `H.list([${e.elems.map((x) => this.expr(x)).join(", ")}])`;
      case "Comp":
        return this.comp(e);
      case "Tuple":
        return `H.tuple([${e.elems.map((x) => this.expr(x)).join(", ")}])`;
      case "Call": {
        const fn = e.fn;
        const npos = e.args.findIndex((a) => a.kind !== "pos");
        if (
          npos === 0 &&
          fn.kind === "Dot" &&
          fn.name === "format" &&
          fn.x.kind === "Literal" &&
          fn.x.tokKind === "STRING" &&
          e.args.every((a) => a.kind === "named") &&
          new Set(e.args.map((a) => a.name!)).size === e.args.length
        ) {
          // "{a}-{b}".format(a = x, b = y): the values evaluated in order, then concatenated
          const names = e.args.map((a) => a.name!);
          const parts = simpleFormat(fn.x.value as string, names);
          if (parts !== undefined) {
            const pos = this.p(e.lparen);
            const ts = e.args.map((a) => {
              const t = this.temp();
              return { t, src: `${t} = ${this.expr(a.value)}` };
            });
            const cat = parts.map((p) => {
              if (typeof p === "string") return JSON.stringify(p);
              const t = ts[names.indexOf(p.name)].t;
              return p.repr ? `H.fr(fr, ${t}, ${pos})` : `H.fs(fr, ${t}, ${pos})`;
            });
            if (cat.length === 0) cat.push('""');
            // many pieces: one flat string (a chain of + is a tree of cons strings that the
            // garbage collector copies until something flattens it)
            if (cat.length > 4) return `(${ts.map((x) => x.src).join(", ")}, [${cat.join(", ")}].join(""))`;
            return `(${ts.map((x) => x.src).join(", ")}, ${cat.join(" + ")})`;
          }
        }
        if (npos >= 0) {
          // f(a, b, name = c, ...): positional then named, nothing else
          const rest = e.args.slice(npos);
          if (!rest.every((a) => a.kind === "named")) return this.delegate(e);
          const f = fn.kind === "Dot" ? `H.attr(fr, ${this.expr(fn.x)}, ${JSON.stringify(fn.name)}, ${this.p(fn.namePos)})` : this.expr(fn);
          const pos = e.args
            .slice(0, npos)
            .map((a) => this.expr(a.value))
            .join(", ");
          const names = this.k(rest.map((a) => a.name!));
          const vals = rest.map((a) => this.expr(a.value)).join(", ");
          return `H.callkw(fr, ${f}, [${pos}], ${names}, [${vals}], ${this.p(e.lparen)})`;
        }
        if (fn.kind === "Dot" && fn.name in Object.prototype) return this.delegate(e);
        if (fn.kind === "Dot" && fn.name === "get" && (e.args.length === 1 || e.args.length === 2)) {
          const k = this.expr(e.args[0].value),
            d = e.args.length === 2 ? this.expr(e.args[1].value) : "undefined";
          return `H.dget(fr, ${this.expr(fn.x)}, ${k}, ${d}, ${this.p(e.lparen)}, ${this.p(fn.namePos)})`;
        }
        if (fn.kind === "Dot" && fn.name === "append" && e.args.length === 1) {
          return `H.append(fr, ${this.expr(fn.x)}, ${this.expr(e.args[0].value)}, ${this.p(e.lparen)}, ${this.p(fn.namePos)})`;
        }
        if (fn.kind === "Ident" && fn.binding!.scope === "universal" && e.args.length === 1) {
          const h = FAST1[fn.name];
          if (h !== undefined && UNIVERSE.get(fn.name) !== undefined) {
            return `H.${h}(fr, ${this.expr(fn)}, ${this.expr(e.args[0].value)}, ${this.p(e.lparen)})`;
          }
        }
        if (fn.kind === "Dot") {
          // x.f(args): the receiver, then its method f (an error if it has none), then the
          // arguments, as starlark-go evaluates them
          const t = this.temp();
          const recv = this.expr(fn.x);
          const args = e.args.map((a) => this.expr(a.value)).join(", ");
          return `H.mcall(fr, ${t} = ${recv}, H.mlook(fr, ${t}, ${JSON.stringify(fn.name)}, ${this.p(fn.namePos)}), [${args}], ${this.p(e.lparen)})`;
        }
        const f = this.expr(fn);
        const args = e.args.map((a) => this.expr(a.value)).join(", ");
        if (e.args.length <= 3) return `H.call${e.args.length}(fr, ${f}${args ? ", " + args : ""}, ${this.p(e.lparen)})`;
        return `H.call(fr, ${f}, [${args}], ${this.p(e.lparen)})`;
      }
      default:
        return this.delegate(e);
    }
  }

  private cond(e: Expr): string {
    if (e.kind === "Paren") return this.cond(e.x);
    if (e.kind === "Unary" && e.op === "not") return `!${this.cond(e.x)}`;
    if (e.kind === "Binary" && (CMP[e.op] || ["==", "!=", "in", "not in"].includes(e.op))) return this.expr(e);
    return `H.truthy(${this.expr(e)})`;
  }

  /** the statement that assigns JS expression `val` (already evaluated) to lhs */
  private assign(lhs: Expr, val: string): string {
    if (lhs.kind === "Paren") return this.assign(lhs.x, val);
    if (lhs.kind === "Ident" && lhs.binding!.scope === "local") return `l[${lhs.binding!.index}] = ${val};`;
    if (lhs.kind === "Ident" && lhs.binding!.scope === "global") return `G[${lhs.binding!.index}] = ${val};`;
    if (
      (lhs.kind === "Tuple" || lhs.kind === "List") &&
      lhs.elems.length > 0 &&
      lhs.elems.every((x) => x.kind === "Ident" && (x.binding!.scope === "local" || x.binding!.scope === "global"))
    ) {
      // for k, v in ...: no copy of a list value is needed (plain variables only)
      const t = this.temp();
      let out = `${t} = H.unpack(fr, ${val}, ${lhs.elems.length}, ${this.p(lhs.pos)});`;
      lhs.elems.forEach((x, i) => {
        out += ` ${this.assign(x, `${t}[${i}]`)}`;
      });
      return out;
    }
    if (lhs.kind === "Index") {
      // x[k] = v: v first, then x, then k (as the closure assigner)
      const t = this.temp();
      return `${t} = ${val}; H.seti(fr, ${this.expr(lhs.x)}, ${this.expr(lhs.index)}, ${t}, ${this.p(lhs.pos)});`;
    }
    this.A.push(this.c.assigner(lhs));
    return `A[${this.A.length - 1}](fr, ${val});`;
  }

  private delegateStmt(s: Stmt): string {
    this.S.push(this.c.stmt(s, false));
    return `S[${this.S.length - 1}](fr);`;
  }

  block(ss: Stmt[], ind: string): string {
    return ss.map((s) => this.stmt(s, ind)).join("");
  }

  /** a for loop (statement or comprehension clause) around body(indent) */
  private loop(vars: Expr, iter: Expr, p: Position, ind: string, body: (ind: string) => string): string {
    const n = this.tmp++;
    const pos = this.p(p);
    const it = `it${n}`,
      xs = `xs${n}`,
      g = `g${n}`,
      i = `i${n}`,
      len = `n${n}`;
    const i2 = ind + "  ",
      i3 = ind + "    ";
    let out = `${ind}{\n`;
    if (!this.inSplit && iter.kind === "Call" && iter.fn.kind === "Dot" && iter.fn.name === "split" && iter.args.length === 1 && iter.args[0].kind === "pos") {
      // for x in s.split(sep): the pieces are cut one at a time (the list is never visible to
      // the program, and the pieces the body drops die young instead of all surviving together)
      const ss = `ss${n}`,
        from = `fr${n}`,
        j = `j${n}`,
        x = `x${n}`;
      out += `${i2}const ${it}r = ${this.expr(iter.fn.x)}, ${ss} = ${this.expr(iter.args[0].value)};\n`;
      out += `${i2}const ${it} = typeof ${it}r === "string" && typeof ${ss} === "string" && ${ss}.length > 0 ? ${it}r : H.meth(fr, ${it}r, "split", [${ss}], ${this.p(iter.lparen)}, ${this.p(iter.fn.namePos)});\n`;
      out += `${i2}if (typeof ${it} === "string") {\n`;
      out += `${i3}for (let ${from} = 0; ${from} >= 0;) {\n`;
      out += `${i3}  if (++th.steps > th.maxSteps) H.cancel(fr, ${pos});\n`;
      out += `${i3}  const ${j} = ${it}.indexOf(${ss}, ${from});\n`;
      out += `${i3}  let ${x};\n`;
      out += `${i3}  if (${j} < 0) { ${x} = ${from} === 0 ? ${it} : ${it}.slice(${from}); ${from} = -1; }\n`;
      out += `${i3}  else { ${x} = ${it}.slice(${from}, ${j}); ${from} = ${j} + ${ss}.length; }\n`;
      out += `${i3}  ${this.assign(vars, x)}\n`;
      this.inSplit = true; // the body is generated twice: not again inside (no blow-up)
      out += body(i3 + "  ");
      this.inSplit = false;
      out += `${i3}}\n`;
      out += `${i2}} else {\n`;
      // the general loop below, over the list split returned
      out += `${i3}const ${xs} = H.iter(fr, ${it}, ${pos}), ${len} = ${xs}.length, ${g} = H.guard(${it});\n`;
      out += `${i3}if (${g} !== null) ${g}.itercount++;\n`;
      out += `${i3}try {\n`;
      out += `${i3}  for (let ${i} = 0; ${i} < ${len}; ${i}++) {\n`;
      out += `${i3}    if (++th.steps > th.maxSteps) H.cancel(fr, ${pos});\n`;
      out += `${i3}    ${this.assign(vars, `${xs}[${i}]`)}\n`;
      this.inSplit = true;
      out += body(i3 + "    ");
      this.inSplit = false;
      out += `${i3}  }\n`;
      out += `${i3}} finally {\n${i3}  if (${g} !== null) ${g}.itercount--;\n${i3}}\n`;
      out += `${i2}}\n`;
      return out + `${ind}}\n`;
    }
    out += `${i2}const ${it} = ${this.expr(iter)};\n`;
    out += `${i2}let ${xs} = null, ${len}, ${g} = null;\n`;
    out += `${i2}if (${it} instanceof H.Range) ${len} = ${it}.length;\n`;
    out += `${i2}else { ${xs} = H.iter(fr, ${it}, ${pos}); ${len} = ${xs}.length; ${g} = H.guard(${it}); }\n`;
    out += `${i2}if (${g} !== null) ${g}.itercount++;\n`;
    out += `${i2}try {\n`;
    out += `${i3}for (let ${i} = 0; ${i} < ${len}; ${i}++) {\n`;
    out += `${i3}  if (++th.steps > th.maxSteps) H.cancel(fr, ${pos});\n`;
    out += `${i3}  ${this.assign(vars, `${xs} === null ? ${it}.start + ${i} * ${it}.step : ${xs}[${i}]`)}\n`;
    out += body(i3 + "  ");
    out += `${i3}}\n`;
    out += `${i2}} finally {\n${i3}if (${g} !== null) ${g}.itercount--;\n${i2}}\n`;
    return out + `${ind}}\n`;
  }

  /** [x for ...] / {k: v for ...} as a called arrow function (V8 inlines it) */
  private comp(e: Extract<Expr, { kind: "Comp" }>): string {
    const acc = `acc${this.tmp++}`;
    let inner: (ind: string) => string;
    if (e.curly) {
      const en = e.body as DictEntry;
      inner = (ind) => `${ind}H.dset(fr, ${acc}, ${this.expr(en.key)}, ${this.expr(en.value)}, ${this.p(en.pos)});\n`;
    } else {
      inner = (ind) => `${ind}${acc}.push(${this.expr(e.body as Expr)});\n`;
    }
    for (let ci = e.clauses.length - 1; ci >= 0; ci--) {
      const c = e.clauses[ci],
        next = inner;
      if (c.kind === "if") inner = (ind) => `${ind}if (${this.cond(c.cond)}) {\n${next(ind + "  ")}${ind}}\n`;
      else inner = (ind) => this.loop(c.vars, c.iter, c.pos, ind, next);
    }
    return `(() => {\n  const ${acc} = ${e.curly ? "H.dict()" : "[]"};\n${inner("  ")}  return ${e.curly ? acc : `H.list(${acc})`};\n})()`;
  }

  stmt(s: Stmt, ind: string): string {
    switch (s.kind) {
      case "ExprStmt":
        return `${ind}${this.expr(s.x)};\n`;
      case "Assign":
        if (s.op === "=") {
          const lhs = s.lhs.kind === "Paren" ? s.lhs.x : s.lhs;
          if ((lhs.kind === "Ident" && (lhs.binding!.scope === "local" || lhs.binding!.scope === "global")) || lhs.kind === "Index") {
            return `${ind}${this.assign(lhs, this.expr(s.rhs))}\n`;
          }
          if (
            (lhs.kind === "Tuple" || lhs.kind === "List") &&
            lhs.elems.every((x) => x.kind === "Ident" && (x.binding!.scope === "local" || x.binding!.scope === "global"))
          ) {
            // a, b = rhs into plain variables: no copy of a list rhs is needed
            const r = s.rhs;
            if (
              lhs.elems.length === 2 &&
              r.kind === "Call" &&
              r.fn.kind === "Dot" &&
              r.fn.name === "split" &&
              r.args.length === 1 &&
              r.args[0].kind === "pos"
            ) {
              // a, b = s.split(sep): no list in between
              const first = `H.split2(fr, ${this.expr(r.fn.x)}, ${this.expr(r.args[0].value)}, ${this.p(r.lparen)}, ${this.p(r.fn.namePos)}, ${this.p(lhs.pos)})`;
              return `${ind}${this.assign(lhs.elems[0], first)} ${this.assign(lhs.elems[1], "H.r2")}\n`;
            }
            const t = `u${this.tmp++}`,
              n = lhs.elems.length;
            let out = `${ind}{\n${ind}  const ${t} = H.unpack(fr, ${this.expr(s.rhs)}, ${n}, ${this.p(lhs.pos)});\n`;
            lhs.elems.forEach((x, i) => {
              out += `${ind}  ${this.assign(x, `${t}[${i}]`)}\n`;
            });
            return out + `${ind}}\n`;
          }
          return `${ind}${this.delegateStmt(s)}\n`;
        }
        if (s.lhs.kind === "Index") {
          // x[k] op= v: x and k once, then x[k], then v (as the closure)
          const op = JSON.stringify(s.op.slice(0, -1)),
            ip = this.p(s.lhs.pos);
          const tx = this.temp(),
            tk = this.temp();
          return (
            `${ind}${tx} = ${this.expr(s.lhs.x)}; ${tk} = ${this.expr(s.lhs.index)}; ` +
            `H.seti(fr, ${tx}, ${tk}, H.aug(fr, ${op}, H.index(fr, ${tx}, ${tk}, ${ip}), ${this.expr(s.rhs)}, ${this.p(s.pos)}), ${ip});\n`
          );
        }
        if (s.lhs.kind === "Ident" && s.lhs.binding!.scope === "local") {
          const op = JSON.stringify(s.op.slice(0, -1));
          return `${ind}l[${s.lhs.binding!.index}] = H.aug(fr, ${op}, ${this.expr(s.lhs)}, ${this.expr(s.rhs)}, ${this.p(s.pos)});\n`;
        }
        return `${ind}${this.delegateStmt(s)}\n`;
      case "If": {
        let out = `${ind}if (${this.cond(s.cond)}) {\n${this.block(s.then, ind + "  ")}${ind}}`;
        if (s.else_.length) out += ` else {\n${this.block(s.else_, ind + "  ")}${ind}}`;
        return out + "\n";
      }
      case "While": {
        const pos = this.p(s.pos);
        return `${ind}while (${this.cond(s.cond)}) {\n${ind}  if (++th.steps > th.maxSteps) H.cancel(fr, ${pos});\n${this.block(s.body, ind + "  ")}${ind}}\n`;
      }
      case "For":
        return this.loop(s.vars, s.iter, s.pos, ind, (i3) => this.block(s.body, i3));
      case "Return":
        return `${ind}return ${s.result ? this.expr(s.result) : "null"};\n`;
      case "Branch":
        if (s.token === "break") return `${ind}break;\n`;
        if (s.token === "continue") return `${ind}continue;\n`;
        return "";
      default:
        return `${ind}${this.delegateStmt(s)}\n`;
    }
  }
}

/**
 * The body of a (non-top-level) function as generated JavaScript, or undefined to keep
 * the closure-compiled body.
 */
export function generateBody(c: Compiler, info: FunctionInfo, G: Value[]): ((fr: Frame) => unknown) | undefined {
  const g = new Gen(c, info, G);
  let src: string;
  try {
    const body = g.block(info.body, "  ");
    src = `return function body(fr) {\n  const l = fr.l, th = fr.th;\n  let v${g.temps.map((t) => ", " + t).join("")};\n${body}  return null;\n};`;
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
  try {
    if (process.env.STARLARK_DUMP_JS) process.stderr.write(src + "\n");
    const factory = new Function("H", "K", "E", "S", "A", "P", "G", src) as (...a: unknown[]) => (fr: Frame) => unknown;
    return factory(H, g.K, g.E, g.S, g.A, g.P, G);
  } catch (e) {
    if (e instanceof StarlarkError) throw e;
    return undefined; // a generator bug must not break evaluation: fall back to closures
  }
}
