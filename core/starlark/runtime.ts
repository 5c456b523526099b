// The run-time half shared by both back ends (the closure compiler, compiler.ts, and the
// JavaScript generator, codegen.ts): where an error is located, how a value is called (the
// recursion, depth and step checks on entering a Starlark function), and the operators'
// fast paths and method dispatch (H). Neither back end repeats them: the closures call H
// directly and the generated source calls it through its `H` parameter, so V8 can inline
// the small helpers into either.
import { UNIVERSE, parseInt_ } from "./builtins.js";
import { setCallImpl } from "./call.js";
import { Position, StarlarkError } from "./errors.js";
import { binary, contains, getAttr, index, methodsOf, setIndex, unary } from "./ops.js";
import { formatOne, percentFormat } from "./string.js";
import type { Method } from "./string.js";
import { Frame, Thread } from "./thread.js";
import { NO_KWARGS } from "./unpack.js";
import {
  Builtin,
  Cell,
  Dict,
  FuncCode,
  HashTable,
  List,
  Range,
  StarFunction,
  Tuple,
  Value,
  compare,
  equals,
  err,
  isHostValue,
  iterValues,
  truth,
  typeName,
} from "./values.js";
import { quote, repr, str } from "./repr.js";

const BUILTIN_LEN = UNIVERSE.get("len"),
  BUILTIN_STR = UNIVERSE.get("str"),
  BUILTIN_INT = UNIVERSE.get("int");

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
  else if (isStackOverflow(e)) {
    se = new StarlarkError("stack overflow: Starlark call stack (or expression nesting) too deep");
    se.overflow = true;
  } else se = new StarlarkError(e instanceof Error ? e.message : String(e));
  if (prefix && !se.bare && !se.msg.startsWith(prefix + ":") && !se.msg.startsWith("fail:")) se.setMsg(`${prefix}: ${se.msg}`);
  fr.callPos = pos;
  try {
    se.callStack = fr.th.callStack();
    se.setPos(pos);
  } catch (x) {
    // JavaScript's stack is still too full to describe the error here: the caller's locate,
    // a frame up, tries again (with the call stack from there)
    if (isStackOverflow(x) && !(e instanceof StarlarkError)) throw e;
    se.callStack = [];
    se.setPos(pos);
  }
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

/**
 * The checks on entering a Starlark function, for every kind of call: recursion (unless the
 * dialect allows it), the depth limit and the step budget. True if the call may go ahead
 * (its step counted); else refuse() says why.
 */
function admitted(th: Thread, code: FuncCode): boolean {
  return (code.active === 0 || code.recursion) && th.frames.length < th.maxDepth && ++th.steps <= th.maxSteps;
}

/** After admitted() said no: throws the error (unlocated), or returns if the budget gave more steps. */
function refuse(th: Thread, fn: StarFunction): void {
  const code = fn.code;
  if (code.active > 0 && !code.recursion) throw err(`function ${fn.name} called recursively`);
  if (th.frames.length >= th.maxDepth) throw err(`stack overflow: more than ${th.maxDepth} nested calls`);
  if (th.outOfBudget()) throw err(th.stopReason);
}

function callFunction(th: Thread, fn: StarFunction, args: Value[], kw: [string, Value][]): Value {
  const code = fn.code;
  if (!admitted(th, code)) refuse(th, fn);
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
 * the recursion, depth and step checks are the caller's (admitted).
 */
function enterFunction(th: Thread, fn: StarFunction, l: Value[]): Value {
  const code = fn.code;
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
function callValue(th: Thread, f: Value, args: Value[], kw: [string, Value][]): Value {
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

// ---------------------------------------------------------------- runtime helpers

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

/** The operators' fast paths, calls and method dispatch, for both back ends. */
export const H = {
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
  /**
   * A call with positional arguments `a` only (n is their number), or, with n = -1, of a
   * Starlark function without cells on its bound locals `a` (callkw). A Starlark function of
   * exactly n parameters and no cells (FuncCode.direct) runs on `a` as its locals (grown to their number: no second array), after the
   * checks every call makes (admitted); anything else is H.call's. The whole entry is
   * written here, so a Starlark call costs one JavaScript frame besides the body's (how deep
   * a program can recurse on JavaScript's stack).
   */
  invoke(fr: Frame, f: Value, a: Value[], pos: Position, n: number): Value {
    if (!(f instanceof StarFunction) || (n >= 0 && f.code.direct !== n)) return H.call(fr, f, a, pos);
    fr.callPos = pos;
    const th = fr.th,
      code = f.code;
    // admitted(th, code), written out (a few per cent of fib's time)
    if ((code.active !== 0 && !code.recursion) || th.frames.length >= th.maxDepth || ++th.steps > th.maxSteps) {
      try {
        refuse(th, f);
      } catch (ex) {
        throw locate(fr, pos, ex);
      }
    }
    if (a.length < code.nlocals) a.length = code.nlocals;
    const callee = new Frame(a, f, th, f.name);
    th.frames.push(callee);
    code.active++;
    let r: unknown;
    try {
      r = code.body(callee);
    } catch (ex) {
      code.active--;
      th.frames.pop();
      throw locate(fr, pos, ex);
    }
    code.active--;
    th.frames.pop();
    // a generated body returns the function's value; a closure-compiled one leaves it in ret
    return code.generated ? (r as Value) : callee.ret;
  },
  /**
   * H.invoke for generated code's call sites of one positional argument: the argument comes
   * alone and the callee's locals are made here (a literal when it has one local). Apart from
   * H.invoke, so that its feedback (which bodies it calls, which arrays it grows) is generated
   * code's own: shared with the closure compiler's calls, fib after other programs ran 1.2x slower.
   */
  call1(fr: Frame, f: Value, a0: Value, pos: Position): Value {
    if (!(f instanceof StarFunction) || f.code.direct !== 1) return H.call(fr, f, [a0], pos);
    fr.callPos = pos;
    const th = fr.th,
      code = f.code;
    if ((code.active !== 0 && !code.recursion) || th.frames.length >= th.maxDepth || ++th.steps > th.maxSteps) {
      try {
        refuse(th, f);
      } catch (ex) {
        throw locate(fr, pos, ex);
      }
    }
    let l: Value[];
    if (code.nlocals === 1) l = [a0];
    else {
      l = new Array(code.nlocals);
      l[0] = a0;
    }
    const callee = new Frame(l, f, th, f.name);
    th.frames.push(callee);
    code.active++;
    let r: unknown;
    try {
      r = code.body(callee);
    } catch (ex) {
      code.active--;
      th.frames.pop();
      throw locate(fr, pos, ex);
    }
    code.active--;
    th.frames.pop();
    return code.generated ? (r as Value) : callee.ret;
  },
  /** H.invoke for generated code's other positional calls (its own feedback: see call1) */
  ginvoke(fr: Frame, f: Value, a: Value[], pos: Position, n: number): Value {
    if (!(f instanceof StarFunction) || f.code.direct !== n) return H.call(fr, f, a, pos);
    fr.callPos = pos;
    const th = fr.th,
      code = f.code;
    if ((code.active !== 0 && !code.recursion) || th.frames.length >= th.maxDepth || ++th.steps > th.maxSteps) {
      try {
        refuse(th, f);
      } catch (ex) {
        throw locate(fr, pos, ex);
      }
    }
    if (a.length < code.nlocals) a.length = code.nlocals;
    const callee = new Frame(a, f, th, f.name);
    th.frames.push(callee);
    code.active++;
    let r: unknown;
    try {
      r = code.body(callee);
    } catch (ex) {
      code.active--;
      th.frames.pop();
      throw locate(fr, pos, ex);
    }
    code.active--;
    th.frames.pop();
    return code.generated ? (r as Value) : callee.ret;
  },
  /** a call with keyword arguments (pairs), or with *args or **kwargs already spread */
  callv(fr: Frame, f: Value, a: Value[], kw: [string, Value][], pos: Position): Value {
    fr.callPos = pos;
    try {
      return callValue(fr.th, f, a, kw);
    } catch (ex) {
      throw locate(fr, pos, ex, calleeName(f));
    }
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
      if (ok && code.cellSlots.length === 0) return H.invoke(fr, f, l, pos, -1);
    }
    const kw: [string, Value][] = new Array(names.length);
    for (let i = 0; i < names.length; i++) kw[i] = [names[i], vals[i]];
    return H.callv(fr, f, a, kw, pos);
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
  const code = f.code;
  return code.simple ? code.nparams : -1;
}
