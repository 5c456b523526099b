// The universe: built-in functions every Starlark file sees.
import { call } from "./call.js";
import { attrNames, getAttr, hasAttr } from "./ops.js";
import { dictUpdate } from "./methods.js";
import type { Thread } from "./thread.js";
import { positional, unpackArgs, wantBool } from "./unpack.js";
import {
  Builtin,
  BuiltinFn,
  Bytes,
  Dict,
  Float,
  List,
  Range,
  StarSet,
  Tuple,
  Value,
  compare,
  err,
  hashString,
  iterValues,
  len as valueLen,
  mustIterate,
  normInt,
  truth,
  typeName,
  bareErr,
} from "./values.js";
import { repr, str } from "./repr.js";
import { StarlarkError } from "./errors.js";

function b(name: string, fn: BuiltinFn): Builtin {
  return new Builtin(name, fn);
}

/** The one argument of bytes, chr, dir, ord, str, type, worded as starlark-go checks them. */
function only(name: string, args: Value[], kw: [string, Value][], want: string): Value {
  if (kw.length > 0) throw bareErr(`${name} does not accept keyword arguments`);
  if (args.length !== 1) throw err(`${name}: got ${args.length} arguments, want ${want}`);
  return args[0];
}

function one(name: string, args: Value[], kw: [string, Value][]): Value {
  positional(name, args, kw, 1, 1);
  return args[0];
}

export function parseInt_(s: string, base: number): number | bigint | undefined {
  if ((base === 10 || base === 0) && s.length < 16 && s.length > 0) {
    // fast path: [+-]?(0|[1-9][0-9]*)
    let i = 0,
      c = s.charCodeAt(0);
    const neg = c === 45;
    if (c === 43 || c === 45) c = s.charCodeAt(++i);
    if (c >= 48 && c <= 57 && (c !== 48 || i + 1 === s.length)) {
      let v = 0;
      for (; i < s.length; i++) {
        c = s.charCodeAt(i);
        if (c < 48 || c > 57) break;
        v = v * 10 + (c - 48);
      }
      if (i === s.length) return neg && v !== 0 ? -v : v;
    }
  }
  // As starlark-go's parseInt: one sign, an optional prefix matching the base, then digits
  // only (no spaces, no underscores).
  let t = s;
  let neg = false;
  if (t.startsWith("+") || t.startsWith("-")) {
    neg = t[0] === "-";
    t = t.slice(1);
  }
  let b = base;
  if (t.length > 1 && t[0] === "0") {
    const pb = t.length > 2 ? (({ o: 8, x: 16, b: 2 } as Record<string, number>)[t[1].toLowerCase()] ?? 0) : 0;
    if (pb !== 0) {
      if (base === 0 || base === pb) {
        b = pb;
        t = t.slice(2);
      }
    } else if (base === 0) {
      return /^0+$/.test(t) ? 0 : undefined;
    }
  }
  if (b === 0) b = 10;
  if (t === "") return undefined;
  const digits = "0123456789abcdefghijklmnopqrstuvwxyz".slice(0, b);
  let v = 0n;
  const bb = BigInt(b);
  for (const c of t.toLowerCase()) {
    const d = digits.indexOf(c);
    if (d < 0) return undefined;
    v = v * bb + BigInt(d);
  }
  return normInt(neg ? -v : v);
}

function minmax(name: string, th: Thread, args: Value[], kw: [string, Value][], sign: number): Value {
  if (args.length === 0) throw bareErr(`${name} requires at least one positional argument`);
  const [key] = unpackArgs(name, [], kw, "key?");
  let xs: Value[];
  if (args.length === 1) {
    const it = iterValues(args[0]);
    if (it === undefined) throw err(`${name}: ${typeName(args[0])} value is not iterable`);
    xs = it;
  } else xs = args;
  if (xs.length === 0) throw err(`${name}: argument is an empty sequence`);
  let best = xs[0];
  let bestKey = key === null ? best : call(th, key, [best]);
  for (let i = 1; i < xs.length; i++) {
    const k = key === null ? xs[i] : call(th, key, [xs[i]]);
    if (compare(sign > 0 ? ">" : "<", k, bestKey) * sign > 0) {
      best = xs[i];
      bestKey = k;
    }
  }
  return best;
}

/**
 * xs sorted in place by cmp, stably. A few elements (sorted(d.items()) of a small dict, the
 * common case in build files) by insertion: Array.prototype.sort's set-up and its calls of the
 * comparator cost more there (a cold build.star spent 20 ms sorting 20,000 three-item lists).
 */
function sortWith(xs: Value[], cmp: (a: Value, b: Value) => number): Value[] {
  if (xs.length > 8) return xs.sort(cmp);
  for (let i = 1; i < xs.length; i++) {
    const x = xs[i];
    let j = i - 1;
    // x against the one before it, as Go's insertion sort (starlark-go) asks: the same operands
    // in an error ("string < int not implemented")
    for (; j >= 0 && cmp(x, xs[j]) < 0; j--) xs[j + 1] = xs[j];
    xs[j + 1] = x;
  }
  return xs;
}

export function sortValues(th: Thread, xs: Value[], key: Value, reverse: boolean): Value[] {
  if (key === null) {
    let allNum = true,
      allStr = true,
      int32 = true;
    for (const x of xs) {
      if (typeof x !== "number") allNum = false;
      else if ((x | 0) !== x) int32 = false;
      if (typeof x !== "string") allStr = false;
    }
    if (allNum) {
      // Small ints are JS numbers (never -0 or NaN), so a typed-array sort (native, no
      // comparator calls) gives the same order; equal ints are indistinguishable, so
      // stability and reverse order are not observable.
      // (an Int32Array when every value fits: its native sort is faster still)
      const f = int32 ? Int32Array.from(xs as number[]).sort() : Float64Array.from(xs as number[]).sort();
      const n = f.length;
      if (reverse) for (let i = 0; i < n; i++) xs[i] = f[n - 1 - i];
      else for (let i = 0; i < n; i++) xs[i] = f[i];
      return xs;
    }
    if (allStr) {
      // The default comparator orders strings by UTF-16 code unit, as Starlark does.
      (xs as string[]).sort();
      if (reverse) xs.reverse();
      return xs;
    }
    let strFirst = xs.length > 1;
    for (const x of xs) {
      if (!(x instanceof Tuple) || x.elems.length === 0 || typeof x.elems[0] !== "string") {
        strFirst = false;
        break;
      }
    }
    if (strFirst) {
      // tuples led by strings (sorted(d.items())): compare the first elements inline
      const cmp = (a: Value, b: Value): number => {
        const x = (a as Tuple).elems[0] as string,
          y = (b as Tuple).elems[0] as string;
        return x < y ? -1 : x > y ? 1 : compare("<", a, b);
      };
      return sortWith(xs, reverse ? (a, b) => cmp(b, a) : cmp);
    }
    return sortWith(xs, reverse ? (a, b) => compare("<", b, a) : (a, b) => compare("<", a, b));
  }
  const keys = xs.map((x) => call(th, key, [x]));
  const idx = xs.map((_, i) => i);
  idx.sort(reverse ? (i, j) => compare("<", keys[j], keys[i]) : (i, j) => compare("<", keys[i], keys[j]));
  return idx.map((i) => xs[i]);
}

function toFloatValue(x: Value): Float {
  if (x instanceof Float) return x;
  if (typeof x === "number") return new Float(x);
  if (typeof x === "bigint") {
    const f = Number(x);
    if (!isFinite(f)) throw err("float: int too large to convert to float");
    return new Float(f);
  }
  if (typeof x === "boolean") return new Float(x ? 1 : 0);
  if (typeof x === "string") {
    // As starlark-go (Go's ParseFloat): no spaces, no digit separators; its wording.
    if (x === "") throw err("float: empty string");
    const t = x.toLowerCase();
    if (/^[+-]?(inf|infinity)$/.test(t)) return new Float(t.startsWith("-") ? -Infinity : Infinity);
    if (/^[+-]?nan$/.test(t)) return new Float(NaN);
    if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) {
      const f = Number(t);
      if (!isFinite(f)) throw bareErr("floating-point number too large");
      return new Float(f);
    }
    throw bareErr(`invalid float literal: ${x}`);
  }
  throw bareErr(`float got ${typeName(x)}, want number or string`);
}

const builtinList: Builtin[] = [
  b("abs", (_th, args, kw) => {
    const x = one("abs", args, kw);
    if (typeof x === "number") return Math.abs(x);
    if (typeof x === "bigint") return x < 0n ? -x : x;
    if (x instanceof Float) return new Float(Math.abs(x.v));
    throw bareErr(`got ${typeName(x)}, want int or float`);
  }),
  b("all", (_th, args, kw) => mustIterate(one("all", args, kw), "all").every(truth)),
  b("any", (_th, args, kw) => mustIterate(one("any", args, kw), "any").some(truth)),
  b("bool", (_th, args, kw) => {
    positional("bool", args, kw, 0, 1);
    return args.length === 0 ? false : truth(args[0]);
  }),
  b("bytes", (_th, args, kw) => {
    const x = only("bytes", args, kw, "exactly 1");
    if (typeof x === "string") return new Bytes(new TextEncoder().encode(x));
    if (x instanceof Bytes) return x;
    const xs = iterValues(x);
    if (xs === undefined) throw err(`bytes: got ${typeName(x)}, want string, bytes, or iterable of ints`);
    return new Bytes(
      Uint8Array.from(
        xs.map((v) => {
          if (typeof v !== "number" || v < 0 || v > 255)
            throw err(`bytes: at index ${xs.indexOf(v)}, ${repr(v)} out of range (want value in unsigned 8-bit range)`);
          return v;
        }),
      ),
    );
  }),
  b("chr", (_th, args, kw) => {
    const x = only("chr", args, kw, "1");
    if (typeof x === "bigint" || (typeof x === "number" && (x > 2147483647 || x < -2147483648))) throw err(`chr: ${x} out of range`);
    if (typeof x !== "number") throw err(`chr: got ${typeName(x)}, want int`);
    if (x < 0) throw err(`chr: Unicode code point ${x} out of range (<0)`);
    if (x > 0x10ffff) throw err(`chr: Unicode code point U+${x.toString(16).toUpperCase()} out of range (>0x10FFFF)`);
    return String.fromCodePoint(x);
  }),
  b("dict", (_th, args, kw) => {
    const d = new Dict();
    dictUpdate("dict", d, args, kw);
    return d;
  }),
  b("dir", (_th, args, kw) => new List(attrNames(only("dir", args, kw, "1")))),
  b("enumerate", (_th, args, kw) => {
    const [x, start] = unpackArgs("enumerate", args, kw, "x", "start?");
    if (start !== null && typeof start !== "number") throw err(`enumerate: for parameter start: got ${typeName(start)}, want int`);
    let i = start === null ? 0 : (start as number);
    return new List(mustIterate(x, "enumerate").map((v) => new Tuple([i++, v])));
  }),
  b("fail", (_th, args, kw) => {
    let sep = " ";
    for (const [k, v] of kw) {
      if (k === "sep") sep = typeof v === "string" ? v : str(v);
      else throw err(`fail: unexpected keyword argument "${k}"`);
    }
    throw new StarlarkError("fail: " + args.map(str).join(sep));
  }),
  b("float", (_th, args, kw) => {
    if (kw.length > 0) throw bareErr("float does not accept keyword arguments");
    if (args.length > 1) throw bareErr(`float got ${args.length} arguments, wants 1`);
    return args.length === 0 ? new Float(0) : toFloatValue(args[0]);
  }),
  b("getattr", (_th, args, kw) => {
    positional("getattr", args, kw, 2, 3);
    const name = args[1];
    if (typeof name !== "string") throw err(`getattr: for parameter name: got ${typeName(name)}, want string`);
    if (args.length === 3 && !hasAttr(args[0], name)) return args[2];
    try {
      return getAttr(args[0], name);
    } catch (e) {
      if (args.length === 3) return args[2];
      throw e;
    }
  }),
  b("hasattr", (_th, args, kw) => {
    positional("hasattr", args, kw, 2, 2);
    if (typeof args[1] !== "string") throw err(`hasattr: for parameter name: got ${typeName(args[1])}, want string`);
    return hasAttr(args[0], args[1]);
  }),
  b("hash", (_th, args, kw) => {
    const x = one("hash", args, kw);
    if (typeof x === "string") return hashString(x);
    if (x instanceof Bytes) {
      // FNV-1a, 32 bits, over the bytes, as the spec gives
      let h = 2166136261;
      for (const c of x.b) h = Math.imul(h ^ c, 16777619);
      return h >>> 0;
    }
    throw err(`hash: got ${typeName(x)}, want string or bytes`);
  }),
  b("int", (_th, args, kw) => {
    if (args.length === 1 && kw.length === 0) {
      const x0 = args[0];
      if (typeof x0 === "number") return x0;
      if (typeof x0 === "string") {
        const v = parseInt_(x0, 10);
        if (v === undefined) throw err(`int: invalid literal with base 10: ${x0}`);
        return v;
      }
    }
    const [x, baseV] = unpackArgs("int", args, kw, "x", "base?"); // x is required, as in starlark-go
    if (args.length > 1 || kw.some(([k]) => k === "base")) {
      // (an explicit None is a base too)
      if (typeof x !== "string") throw err("int: can't convert non-string with explicit base");
      if (typeof baseV !== "number") throw err(`int: for base, got ${typeName(baseV)}, want int`);
      if (baseV !== 0 && (baseV < 2 || baseV > 36)) throw err("int: base must be an integer >= 2 && <= 36");
      const v = parseInt_(x, baseV);
      if (v === undefined) throw err(`int: invalid literal with base ${baseV}: ${x}`);
      return v;
    }
    if (typeof x === "number" || typeof x === "bigint") return x;
    if (typeof x === "boolean") return x ? 1 : 0;
    if (x instanceof Float) {
      if (!isFinite(x.v)) throw err(`int: cannot convert float ${Number.isNaN(x.v) ? "NaN" : "infinity"} to integer`);
      const t = Math.trunc(x.v) + 0; // + 0: an int is never -0
      return Number.isSafeInteger(t) ? t : normInt(BigInt(t));
    }
    if (typeof x === "string") {
      const v = parseInt_(x, 10);
      if (v === undefined) throw err(`int: invalid literal with base 10: ${x}`);
      return v;
    }
    throw err(`int: cannot convert ${typeName(x)} to int`);
  }),
  b("len", (_th, args, kw) => {
    const x = one("len", args, kw);
    const n = valueLen(x);
    if (n < 0) throw err(`len: value of type ${typeName(x)} has no len`);
    return n;
  }),
  b("list", (_th, args, kw) => {
    positional("list", args, kw, 0, 1);
    return new List(args.length === 0 ? [] : mustIterate(args[0], "list"));
  }),
  b("max", (th, args, kw) => minmax("max", th, args, kw, 1)),
  b("min", (th, args, kw) => minmax("min", th, args, kw, -1)),
  b("ord", (_th, args, kw) => {
    const x = only("ord", args, kw, "1");
    if (typeof x === "string") {
      const cps = Array.from(x);
      if (cps.length !== 1) throw err(`ord: string encodes ${cps.length} Unicode code points, want 1`);
      return cps[0].codePointAt(0)!;
    }
    if (x instanceof Bytes) {
      if (x.b.length !== 1) throw err(`ord: bytes has length ${x.b.length}, want 1`);
      return x.b[0];
    }
    throw err(`ord: got ${typeName(x)}, want string or bytes`);
  }),
  b("print", (th, args, kw) => {
    let sep = " ";
    for (const [k, v] of kw) {
      if (k === "sep") sep = typeof v === "string" ? v : str(v);
      else throw err(`print: unexpected keyword argument "${k}"`);
    }
    let s = "";
    for (let i = 0; i < args.length; i++) s += (i > 0 ? sep : "") + str(args[i]);
    th.print(s);
    return null;
  }),
  b("range", (_th, args, kw) => {
    positional("range", args, kw, 1, 3);
    args.forEach((a, i) => {
      if (typeof a === "bigint")
        throw err(
          a >= -(2n ** 63n) && a < 2n ** 63n
            ? "range: integer too large"
            : `range: for parameter ${i + 1}: ${a} out of range (want value in signed 64-bit range)`,
        );
      if (typeof a !== "number") throw err(`range: for parameter ${i + 1}: got ${typeName(a)}, want int`);
    });
    const nums = args as number[];
    let start = 0,
      stop: number,
      step = 1;
    if (nums.length === 1) stop = nums[0];
    else {
      start = nums[0];
      stop = nums[1];
      if (nums.length === 3) step = nums[2];
    }
    if (step === 0) throw err("range: step argument must not be zero");
    return new Range(start, stop, step);
  }),
  b("repr", (_th, args, kw) => repr(one("repr", args, kw))),
  b("reversed", (_th, args, kw) => new List(mustIterate(one("reversed", args, kw), "reversed").reverse())),
  b("set", (_th, args, kw) => {
    positional("set", args, kw, 0, 1);
    const s = new StarSet();
    if (args.length > 0) for (const x of mustIterate(args[0], "set")) s.add(x);
    return s;
  }),
  b("sorted", (th, args, kw) => {
    const [x, key, reverse] = unpackArgs("sorted", args, kw, "iterable", "key?", "reverse?");
    const xs = iterValues(x);
    if (xs === undefined) throw err(`sorted: for parameter iterable: got ${typeName(x)}, want iterable`);
    const rev = wantBool("sorted", "reverse", reverse, false, kw);
    try {
      return new List(sortValues(th, xs, key, rev));
    } catch (e) {
      // starlark-go returns a comparison's error as it is, without "sorted: "
      if (e instanceof StarlarkError && !e.located) e.bare = true;
      throw e;
    }
  }),
  b("str", (_th, args, kw) => {
    if (args.length === 1 && kw.length === 0) {
      const x = args[0];
      if (typeof x === "string") return x;
      if (typeof x === "number") return String(x);
    }
    return str(only("str", args, kw, "exactly 1"));
  }),
  b("tuple", (_th, args, kw) => {
    positional("tuple", args, kw, 0, 1);
    if (args.length === 0) return new Tuple([]);
    if (args[0] instanceof Tuple) return args[0];
    return new Tuple(mustIterate(args[0], "tuple"));
  }),
  b("type", (_th, args, kw) => typeName(only("type", args, kw, "exactly 1"))),
  b("zip", (_th, args, kw) => {
    if (kw.length > 0) throw bareErr("zip does not accept keyword arguments");
    const seqs = args.map((a, i) => {
      const xs = iterValues(a);
      if (xs === undefined) throw err(`zip: argument #${i + 1} is not iterable: ${typeName(a)}`);
      return xs;
    });
    const n = seqs.length === 0 ? 0 : Math.min(...seqs.map((s) => s.length));
    const out: Value[] = [];
    for (let i = 0; i < n; i++) out.push(new Tuple(seqs.map((s) => s[i])));
    return new List(out);
  }),
];

/** The universe: built-in functions and constants. */
export const UNIVERSE: Map<string, Value> = new Map<string, Value>([
  ["None", null],
  ["True", true],
  ["False", false],
  ...builtinList.map((f) => [f.name, f] as [string, Value]),
]);
