// The string type's methods, `%` formatting and str.format.
// Strings are JS strings: sequences of UTF-16 code units (see docs/language.md).
import type { Thread } from "./thread.js";
import { positional, unpackArgs } from "./unpack.js";
import { Bytes, Dict, Float, List, Tuple, Value, err, iterValues, mustIterate, toFloat, typeName } from "./values.js";
import { formatFloatG, quote, repr, str } from "./repr.js";
import type { HostValue } from "./values.js";

export type Method = (th: Thread, recv: any, args: Value[], kwargs: [string, Value][]) => Value; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Python-style clamping of optional start/end arguments. */
function indices(name: string, n: number, start: Value | undefined, end: Value | undefined): [number, number] {
  // As starlark-go's indices(): an index must be an int that fits in 32 bits.
  const conv = (v: Value | undefined, dflt: number, which: string): number => {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "number" || v < -2147483648 || v > 2147483647) {
      throw err(`${name}: invalid ${which} index: ${typeof v === "number" || typeof v === "bigint" ? `${v} out of range` : `got ${typeName(v)}, want int`}`);
    }
    let i = v;
    if (i < 0) i += n;
    return Math.max(0, Math.min(n, i));
  };
  return [conv(start, 0, "start"), conv(end, n, "end")];
}

/** A positional string argument (the nth, from 1), worded as starlark-go's UnpackPositionalArgs. */
function wantStr(name: string, v: Value, n = 1): string {
  if (typeof v !== "string") throw err(`${name}: for parameter ${n}: got ${typeName(v)}, want string`);
  return v;
}

const isSpace = (c: string) => /\s/.test(c);

function isSpaceCode(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || (c > 127 && /\s/.test(String.fromCharCode(c)));
}

/** str.split() with no separator: runs of whitespace separate, no empty strings. */
function splitWhitespace(s: string): string[] {
  const out: string[] = [];
  const n = s.length;
  let i = 0;
  while (i < n) {
    while (i < n && isSpaceCode(s.charCodeAt(i))) i++;
    if (i >= n) break;
    let j = i + 1;
    while (j < n && !isSpaceCode(s.charCodeAt(j))) j++;
    out.push(s.slice(i, j));
    i = j;
  }
  return out;
}

/** xs.join(sep), by blocks when long (V8 joins a few thousand strings at a time faster) */
function joinStrings(xs: string[], sep: string): string {
  const n = xs.length;
  if (n <= 4096) return xs.join(sep);
  const blocks: string[] = [];
  for (let i = 0; i < n; i += 1024) blocks.push(xs.slice(i, i + 1024).join(sep));
  return blocks.join(sep);
}

/** s.split(sep) for a non-empty sep: an indexOf loop, much faster in V8 than
 * String.prototype.split on many short strings. */
function splitAll(s: string, sep: string): string[] {
  const out: string[] = [];
  const w = sep.length;
  let i = 0;
  for (;;) {
    const j = s.indexOf(sep, i);
    if (j < 0) break;
    out.push(s.slice(i, j));
    i = j + w;
  }
  out.push(i === 0 ? s : s.slice(i));
  return out;
}

function split(name: string, s: string, args: Value[], kw: [string, Value][], right: boolean): Value {
  if (kw.length === 0 && args.length <= 1) {
    const sep = args.length === 0 ? null : args[0];
    if (typeof sep === "string" && sep !== "") return new List(splitAll(s, sep));
    if (sep === null) return new List(splitWhitespace(s));
  }
  // as starlark-go: positional only; maxsplit, when given, an int (a Go int: 64 bits)
  positional(name, args, kw, 0, 2);
  const sepV = args[0] ?? null,
    maxV = args.length > 1 ? args[1] : -1;
  let max = typeof maxV === "bigint" && maxV >= -(2n ** 63n) && maxV < 2n ** 63n ? Number(maxV) : (maxV as number);
  if (typeof max === "bigint") throw err(`${name}: for parameter 2: ${max} out of range (want value in signed 64-bit range)`);
  if (typeof max !== "number") throw err(`${name}: for parameter 2: got ${typeName(maxV)}, want int`);
  if (max < 0) max = Infinity;
  const out: string[] = [];
  if (sepV === null) {
    // whitespace splitting, runs of whitespace collapse
    if (!right) {
      let i = 0;
      while (i < s.length) {
        while (i < s.length && isSpace(s[i])) i++;
        if (i >= s.length) break;
        if (out.length >= max) {
          out.push(s.slice(i));
          break;
        }
        let j = i;
        while (j < s.length && !isSpace(s[j])) j++;
        out.push(s.slice(i, j));
        i = j;
      }
    } else {
      let i = s.length;
      while (i > 0) {
        while (i > 0 && isSpace(s[i - 1])) i--;
        if (i <= 0) break;
        if (out.length >= max) {
          out.push(s.slice(0, i));
          break;
        }
        let j = i;
        while (j > 0 && !isSpace(s[j - 1])) j--;
        out.push(s.slice(j, i));
        i = j;
      }
      out.reverse();
    }
    return new List(out);
  }
  // starlark-go words these as "split" for rsplit too
  if (typeof sepV !== "string") throw err(`split: got ${typeName(sepV)} for separator, want string`);
  const sep = sepV;
  if (sep === "") throw err("split: empty separator");
  if (max === Infinity) return new List(splitAll(s, sep));
  if (!right) {
    let i = 0;
    while (out.length < max) {
      const j = s.indexOf(sep, i);
      if (j < 0) break;
      out.push(s.slice(i, j));
      i = j + sep.length;
    }
    out.push(s.slice(i));
  } else {
    let i = s.length;
    const parts: string[] = [];
    while (parts.length < max) {
      const j = s.lastIndexOf(sep, i - sep.length);
      if (j < 0 || i - sep.length < 0) break;
      parts.push(s.slice(j + sep.length, i));
      i = j;
    }
    parts.push(s.slice(0, i));
    out.push(...parts.reverse());
  }
  return new List(out);
}

function strip(name: string, s: string, args: Value[], kw: [string, Value][], left: boolean, right: boolean): string {
  positional(name, args, kw, 0, 1);
  const cv = args[0];
  if (cv === undefined || cv === null) {
    let i = 0,
      j = s.length;
    if (left) while (i < j && isSpace(s[i])) i++;
    if (right) while (j > i && isSpace(s[j - 1])) j--;
    return s.slice(i, j);
  }
  const chars = wantStr(name, cv);
  let i = 0,
    j = s.length;
  if (left) while (i < j && chars.includes(s[i])) i++;
  if (right) while (j > i && chars.includes(s[j - 1])) j--;
  return s.slice(i, j);
}

function findImpl(name: string, s: string, args: Value[], kw: [string, Value][], last: boolean, must: boolean): number {
  positional(name, args, kw, 1, 3);
  const sub = wantStr(name, args[0]);
  const [a, b] = indices(name, s.length, args[1], args[2]);
  let i: number;
  if (last) {
    i = b - sub.length < a ? -1 : s.lastIndexOf(sub, b - sub.length);
    if (i < a) i = -1;
  } else {
    i = s.indexOf(sub, a);
    if (i + sub.length > b) i = -1;
  }
  if (i < 0 && must) throw err(`${name}: substring not found`);
  return i;
}

function prefixTest(name: string, s: string, args: Value[], kw: [string, Value][], suffix: boolean): boolean {
  positional(name, args, kw, 1, 3);
  const [a, b] = indices(name, s.length, args[1], args[2]);
  const t = s.slice(a, b);
  const x = args[0];
  if (typeof x !== "string" && !(x instanceof Tuple)) throw err(`${name}: got ${typeName(x)}, want string or tuple of string`);
  const cands = x instanceof Tuple ? x.elems : [x];
  for (let i = 0; i < cands.length; i++) {
    const c = cands[i];
    if (typeof c !== "string") throw err(`${name}: want string, got ${typeName(c)}, for element ${i}`);
    if (suffix ? t.endsWith(c) : t.startsWith(c)) return true;
  }
  return false;
}

function codepoints(s: string): string[] {
  return Array.from(s);
}

// Case mapping rune by rune with Unicode's simple (one-to-one) mappings, as Go's unicode
// package does: "ß".upper() is "ß", and title case differs from upper case for the digraphs
// (ǅ ǈ ǋ ǲ) and the Greek letters with a subscript iota.
const ASCII = /^[\x00-\x7f]*$/;
function greekIota(cp: number): number | undefined {
  if (cp >= 0x1f80 && cp <= 0x1faf) return (cp & 0xf) < 8 ? cp + 8 : cp;
  if (cp === 0x1fb3 || cp === 0x1fc3 || cp === 0x1ff3) return cp + 9;
  return undefined;
}
function simpleUpper(c: string): string {
  const u = c.toUpperCase();
  if (u.length === c.length || [...u].length === 1) return u;
  const g = greekIota(c.codePointAt(0)!);
  return g !== undefined ? String.fromCodePoint(g) : c;
}
function simpleLower(c: string): string {
  if (c === "\u0130") return "i";
  const l = c.toLowerCase();
  return [...l].length === 1 ? l : c;
}
const DIGRAPH_TITLE: Record<string, string> = {
  "\u01c4": "\u01c5",
  "\u01c5": "\u01c5",
  "\u01c6": "\u01c5",
  "\u01c7": "\u01c8",
  "\u01c8": "\u01c8",
  "\u01c9": "\u01c8",
  "\u01ca": "\u01cb",
  "\u01cb": "\u01cb",
  "\u01cc": "\u01cb",
  "\u01f1": "\u01f2",
  "\u01f2": "\u01f2",
  "\u01f3": "\u01f2",
};
function toTitle(c: string): string {
  const d = DIGRAPH_TITLE[c];
  if (d) return d;
  const g = greekIota(c.codePointAt(0)!);
  return g !== undefined ? String.fromCodePoint(g) : simpleUpper(c);
}
export function upperString(s: string): string {
  return ASCII.test(s) ? s.toUpperCase() : Array.from(s, simpleUpper).join("");
}
export function lowerString(s: string): string {
  return ASCII.test(s) ? s.toLowerCase() : Array.from(s, simpleLower).join("");
}
/** starlark-go's isCasedRune: a letter with another case (Go's SimpleFold(r) != r). */
const isCased = (c: string) => simpleLower(c) !== c || simpleUpper(c) !== c || /\p{Lt}/u.test(c);
const isCasedString = (s: string) => Array.from(s).some(isCased);

export const stringMethods: Record<string, Method> = {
  capitalize(_th, s: string, args, kw) {
    positional("capitalize", args, kw, 0, 0);
    const cps = codepoints(s);
    if (cps.length === 0) return "";
    return toTitle(cps[0]) + lowerString(cps.slice(1).join(""));
  },
  count(_th, s: string, args, kw) {
    positional("count", args, kw, 1, 3);
    const sub = wantStr("count", args[0]);
    const [a, b] = indices("count", s.length, args[1], args[2]);
    const t = s.slice(a, b);
    if (sub === "") return t.length + 1;
    let n = 0;
    for (let i = t.indexOf(sub); i >= 0; i = t.indexOf(sub, i + sub.length)) n++;
    return n;
  },
  elems(_th, s: string, args, kw) {
    positional("elems", args, kw, 0, 0);
    return new StringView(s, "elems");
  },
  elem_ords(_th, s: string, args, kw) {
    positional("elem_ords", args, kw, 0, 0);
    return new StringView(s, "elem_ords");
  },
  codepoints(_th, s: string, args, kw) {
    positional("codepoints", args, kw, 0, 0);
    return new StringView(s, "codepoints");
  },
  codepoint_ords(_th, s: string, args, kw) {
    positional("codepoint_ords", args, kw, 0, 0);
    return new StringView(s, "codepoint_ords");
  },
  endswith: (_th, s, args, kw) => prefixTest("endswith", s, args, kw, true),
  startswith: (_th, s, args, kw) => prefixTest("startswith", s, args, kw, false),
  find: (_th, s, args, kw) => findImpl("find", s, args, kw, false, false),
  rfind: (_th, s, args, kw) => findImpl("rfind", s, args, kw, true, false),
  index: (_th, s, args, kw) => findImpl("index", s, args, kw, false, true),
  rindex: (_th, s, args, kw) => findImpl("rindex", s, args, kw, true, true),
  format(_th, s: string, args, kw) {
    return strFormat(s, args, kw);
  },
  isalnum(_th, s: string, args, kw) {
    positional("isalnum", args, kw, 0, 0);
    return s.length > 0 && /^[\p{L}\p{N}]+$/u.test(s);
  },
  isalpha(_th, s: string, args, kw) {
    positional("isalpha", args, kw, 0, 0);
    return s.length > 0 && /^\p{L}+$/u.test(s);
  },
  isdigit(_th, s: string, args, kw) {
    positional("isdigit", args, kw, 0, 0);
    return s.length > 0 && /^\p{Nd}+$/u.test(s);
  },
  islower(_th, s: string, args, kw) {
    positional("islower", args, kw, 0, 0);
    return isCasedString(s) && s === lowerString(s);
  },
  isupper(_th, s: string, args, kw) {
    positional("isupper", args, kw, 0, 0);
    return isCasedString(s) && s === upperString(s);
  },
  isspace(_th, s: string, args, kw) {
    positional("isspace", args, kw, 0, 0);
    return s.length > 0 && /^\s+$/u.test(s);
  },
  istitle(_th, s: string, args, kw) {
    positional("istitle", args, kw, 0, 0);
    // uppercase (or title case) only after uncased characters, lowercase only after cased
    let prevCased = false,
      any = false;
    for (const c of codepoints(s)) {
      if ((c >= "A" && c <= "Z") || /\p{Lt}/u.test(c)) {
        if (prevCased) return false;
        prevCased = true;
        any = true;
      } else if (/\p{Ll}/u.test(c)) {
        if (!prevCased) return false;
        prevCased = true;
        any = true;
      } else if (/\p{Lu}/u.test(c)) return false;
      else prevCased = false;
    }
    return any;
  },
  join(_th, s: string, args, kw) {
    positional("join", args, kw, 1, 1);
    const it = args[0];
    if (it instanceof List) {
      const el = it.elems;
      for (let i = 0; i < el.length; i++) {
        if (typeof el[i] !== "string") throw err(`join: in list, want string, got ${typeName(el[i])}`);
      }
      return joinStrings(el as string[], s);
    }
    const xs = it instanceof List || it instanceof Tuple ? it.elems : iterValues(it);
    if (xs === undefined) throw err(`join: for parameter 1: got ${typeName(it)}, want iterable`);
    for (let i = 0; i < xs.length; i++) {
      if (typeof xs[i] !== "string") throw err(`join: in list, want string, got ${typeName(xs[i])}`);
    }
    return joinStrings(xs as string[], s);
  },
  lower(_th, s: string, args, kw) {
    positional("lower", args, kw, 0, 0);
    return lowerString(s);
  },
  upper(_th, s: string, args, kw) {
    positional("upper", args, kw, 0, 0);
    return upperString(s);
  },
  title(_th, s: string, args, kw) {
    positional("title", args, kw, 0, 0);
    let out = "",
      prevCased = false;
    for (const c of codepoints(s)) {
      const r = prevCased ? simpleLower(c) : toTitle(c);
      prevCased = isCased(r);
      out += r;
    }
    return out;
  },
  lstrip: (_th, s, args, kw) => strip("lstrip", s, args, kw, true, false),
  rstrip: (_th, s, args, kw) => strip("rstrip", s, args, kw, false, true),
  strip: (_th, s, args, kw) => strip("strip", s, args, kw, true, true),
  partition(_th, s: string, args, kw) {
    positional("partition", args, kw, 1, 1);
    const sep = wantStr("partition", args[0]);
    if (sep === "") throw err("partition: empty separator");
    const i = s.indexOf(sep);
    return i < 0 ? new Tuple([s, "", ""]) : new Tuple([s.slice(0, i), sep, s.slice(i + sep.length)]);
  },
  rpartition(_th, s: string, args, kw) {
    positional("rpartition", args, kw, 1, 1);
    const sep = wantStr("rpartition", args[0]);
    if (sep === "") throw err("rpartition: empty separator");
    const i = s.lastIndexOf(sep);
    return i < 0 ? new Tuple(["", "", s]) : new Tuple([s.slice(0, i), sep, s.slice(i + sep.length)]);
  },
  removeprefix(_th, s: string, args, kw) {
    positional("removeprefix", args, kw, 1, 1);
    const p = wantStr("removeprefix", args[0]);
    return s.startsWith(p) ? s.slice(p.length) : s;
  },
  removesuffix(_th, s: string, args, kw) {
    positional("removesuffix", args, kw, 1, 1);
    const p = wantStr("removesuffix", args[0]);
    return p !== "" && s.endsWith(p) ? s.slice(0, s.length - p.length) : s;
  },
  replace(_th, s: string, args, kw) {
    positional("replace", args, kw, 2, 3);
    const old = wantStr("replace", args[0]),
      nu = wantStr("replace", args[1], 2);
    let count = args[2] === undefined || args[2] === null ? -1 : args[2];
    if (typeof count !== "number") throw err(`replace: for parameter count: got ${typeName(count)}, want int`);
    if (count < 0) return s.replaceAll(old, () => nu); // a function: no "$&" patterns
    let out = "",
      i = 0;
    if (old === "") {
      // insert between code units, like Python
      const parts = s.split("");
      for (let k = 0; k <= parts.length; k++) {
        if (count > 0) {
          out += nu;
          count--;
        }
        if (k < parts.length) out += parts[k];
      }
      return out;
    }
    while (count > 0) {
      const j = s.indexOf(old, i);
      if (j < 0) break;
      out += s.slice(i, j) + nu;
      i = j + old.length;
      count--;
    }
    return out + s.slice(i);
  },
  split: (_th, s, args, kw) => split("split", s, args, kw, false),
  rsplit: (_th, s, args, kw) => split("rsplit", s, args, kw, true),
  splitlines(_th, s: string, args, kw) {
    // The spec's line terminator is "\n" alone; keepends is a bool.
    const [keepV] = unpackArgs("splitlines", args, kw, "keepends?");
    if (keepV !== null && typeof keepV !== "boolean") throw err(`splitlines: for parameter 1: got ${typeName(keepV)}, want bool`);
    const keep = keepV === true;
    const out: string[] = [];
    let i = 0;
    while (i < s.length) {
      const j = s.indexOf("\n", i);
      if (j < 0) {
        out.push(s.slice(i));
        break;
      }
      out.push(keep ? s.slice(i, j + 1) : s.slice(i, j));
      i = j + 1;
    }
    return new List(out);
  },
};

// ---------------------------------------------------------------- % formatting

// As starlark-go's Float.format: non-finite values are "+inf", "-inf", "nan" whatever the
// conversion; -0.0 keeps its sign.
function fmtExp(f: number, prec: number, upper: boolean): string {
  if (!isFinite(f)) return nonFinite(f);
  let s = f.toExponential(prec).replace(/e([+-])(\d)$/, "e$10$2");
  if (Object.is(f, -0)) s = "-" + s;
  return upper ? s.toUpperCase() : s;
}
function nonFinite(f: number): string {
  return Number.isNaN(f) ? "nan" : f > 0 ? "+inf" : "-inf";
}
function fmtFixed(f: number): string {
  if (!isFinite(f)) return nonFinite(f);
  if (Object.is(f, -0)) return "-0.000000";
  if (Math.abs(f) < 1e21) return f.toFixed(6);
  // toFixed switches to exponent form above 1e21; print all digits via BigInt
  return BigInt(Math.trunc(f)).toString() + ".000000";
}

/** starlark-go's NumberToInt, for %d %i %o %x %X. */
function toIntArg(conv: string, v: Value): number | bigint {
  if (typeof v === "number" || typeof v === "bigint") return v;
  if (v instanceof Float) {
    if (Number.isNaN(v.v)) throw err(`%${conv} format requires integer: cannot convert float NaN to integer`);
    if (!isFinite(v.v)) throw err(`%${conv} format requires integer: cannot convert float infinity to integer`);
    const t = Math.trunc(v.v) + 0;
    return Number.isSafeInteger(t) ? t : BigInt(t);
  }
  throw err(`%${conv} format requires integer: cannot convert ${typeName(v)} to int`);
}

function toFloatArg(conv: string, v: Value): number {
  if (typeof v === "number" || typeof v === "bigint" || v instanceof Float) return toFloat(v);
  throw err(`%${conv} format requires float, not ${typeName(v)}`);
}

export function formatOne(conv: string, v: Value): string {
  switch (conv) {
    case "s":
      return str(v);
    case "r":
      return repr(v);
    case "d":
    case "i":
      return String(toIntArg(conv, v));
    case "o":
    case "x":
    case "X": {
      const s = toIntArg(conv, v).toString(conv === "o" ? 8 : 16);
      return conv === "X" ? s.toUpperCase() : s;
    }
    case "e":
    case "E":
      return fmtExp(toFloatArg(conv, v), 6, conv === "E");
    case "f":
    case "F":
      return fmtFixed(toFloatArg(conv, v));
    case "g":
    case "G": {
      const f = toFloatArg(conv, v);
      const s = formatFloatG(f);
      return conv === "G" && isFinite(f) ? s.toUpperCase() : s;
    }
    case "c": {
      if (typeof v === "string") {
        if (Array.from(v).length !== 1) throw err(`%c format requires a single-character string`);
        return v;
      }
      if (typeof v === "number" || typeof v === "bigint") {
        if (v < 0 || v > 0x10ffff) throw err(`%c format requires a valid Unicode code point, got ${v}`);
        return String.fromCodePoint(Number(v));
      }
      throw err(`%c format requires int or single-character string, not ${typeName(v)}`);
    }
  }
  throw err(`unknown conversion %${conv}`);
}

/** `format % x`, as starlark-go's interpolate. */
export function percentFormat(format: string, x: Value): string {
  let args: Value[];
  if (x instanceof Tuple) args = x.elems;
  else {
    // the common single-conversion case: "%s" % x, "pkg-%d" % i
    const i = format.indexOf("%");
    if (i >= 0 && i + 1 < format.length && format.indexOf("%", i + 2) < 0 && format[i + 1] !== "(" && format[i + 1] !== "%") {
      return format.slice(0, i) + formatOne(format[i + 1], x) + format.slice(i + 2);
    }
    args = [x];
  }
  const mapping = x instanceof Dict ? x : undefined;
  let out = "";
  let index = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== "%") {
      let j = format.indexOf("%", i);
      if (j < 0) j = format.length;
      out += format.slice(i, j);
      i = j - 1;
      continue;
    }
    i++;
    if (format[i] === "%") {
      out += "%";
      continue;
    }
    let v: Value;
    if (format[i] === "(") {
      const j = format.indexOf(")", i);
      if (j < 0) throw err("incomplete format key");
      const key = format.slice(i + 1, j);
      if (!mapping) throw err("format requires a mapping");
      const got = mapping.get(key);
      if (got === undefined) throw err(`key not found: ${key}`);
      v = got;
      i = j + 1;
    } else {
      if (index >= args.length) throw err("not enough arguments for format string");
      v = args[index];
    }
    if (i >= format.length) throw err("incomplete format");
    out += formatOne(format[i], v);
    index++;
  }
  if (index < args.length && !mapping) throw err("too many arguments for format string");
  return out;
}

// ---------------------------------------------------------------- str.format

export type FormatPart = string | { field: "auto" | "index" | "name"; index: number; name: string; repr: boolean };

const formatCache = new Map<string, FormatPart[]>();

/** Forgets the parsed format strings (as forgetSources does the sources: between runs of a server). */
export function forgetFormats(): void {
  formatCache.clear();
}

export function parseFormat(format: string): FormatPart[] {
  const cached = formatCache.get(format);
  if (cached) return cached;
  const parts: FormatPart[] = [];
  let lit = "";
  let mode: "auto" | "manual" | undefined;
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c === "}") {
      if (format[i + 1] === "}") {
        lit += "}";
        i++;
        continue;
      }
      throw err("format: single '}' in format");
    }
    if (c !== "{") {
      let j = i + 1;
      while (j < format.length && format[j] !== "{" && format[j] !== "}") j++;
      lit += format.slice(i, j);
      i = j - 1;
      continue;
    }
    if (format[i + 1] === "{") {
      lit += "{";
      i++;
      continue;
    }
    const j = format.indexOf("}", i);
    if (j < 0) throw err("format: unmatched '{' in format");
    let field = format.slice(i + 1, j);
    i = j;
    let conv = "s";
    const bang = field.indexOf("!");
    if (bang >= 0) {
      conv = field.slice(bang + 1);
      field = field.slice(0, bang);
      if (conv !== "s" && conv !== "r") {
        if (conv.includes(":")) throw err("format: format spec features not supported in replacement fields");
        throw err(`format: unknown conversion "!${conv}"`);
      }
    }
    if (field.includes(":")) throw err("format: format spec features not supported in replacement fields");
    if (lit !== "") {
      parts.push(lit);
      lit = "";
    }
    if (field === "") {
      if (mode === "manual") throw err("format: cannot switch from manual field specification to automatic field numbering");
      mode = "auto";
      parts.push({ field: "auto", index: 0, name: "", repr: conv === "r" });
    } else if (/^\d+$/.test(field)) {
      if (mode === "auto") throw err("format: cannot switch from automatic field numbering to manual field specification");
      mode = "manual";
      parts.push({ field: "index", index: parseInt(field, 10), name: "", repr: conv === "r" });
    } else {
      if (field.includes(".") || field.includes("[")) throw err(`format: attribute syntax x.y is not supported in replacement fields: ${field}`);
      parts.push({ field: "name", index: 0, name: field, repr: conv === "r" });
    }
  }
  if (lit !== "") parts.push(lit);
  if (formatCache.size > 500) formatCache.clear();
  formatCache.set(format, parts);
  return parts;
}

export function strFormat(format: string, args: Value[], kw: [string, Value][]): string {
  const parts = parseFormat(format);
  let out = "";
  let auto = 0;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p];
    if (typeof part === "string") {
      out += part;
      continue;
    }
    let v: Value | undefined;
    if (part.field === "auto") {
      if (auto >= args.length) throw err(`format: tuple index out of range`);
      v = args[auto++];
    } else if (part.field === "index") {
      if (part.index >= args.length) throw err(`format: tuple index out of range`);
      v = args[part.index];
    } else {
      for (let k = 0; k < kw.length; k++)
        if (kw[k][0] === part.name) {
          v = kw[k][1];
          break;
        }
      if (v === undefined) throw err(`format: keyword ${part.name} not found`);
    }
    out += part.repr ? repr(v) : typeof v === "string" ? v : str(v);
  }
  return out;
}

// ---------------------------------------------------------------- bytes

export const bytesMethods: Record<string, Method> = {
  elems(_th, b: Bytes, args, kw) {
    positional("elems", args, kw, 0, 0);
    return new BytesElems(b);
  },
};

/**
 * What s.elems(), s.elem_ords(), s.codepoints() and s.codepoint_ords() return: not lists but
 * iterable views, as in the spec. Like starlark-go's, elems and elem_ords can also be indexed
 * and have a len; codepoints only iterate.
 */
export class StringView implements HostValue {
  constructor(
    readonly s: string,
    readonly kind: "elems" | "elem_ords" | "codepoints" | "codepoint_ords",
  ) {}
  type(): string {
    return this.kind === "elems" || this.kind === "elem_ords" ? "string.elems" : "string.codepoints";
  }
  str(): string {
    return `${quote(this.s)}.${this.kind}()`;
  }
  attr(): Value | undefined {
    return undefined;
  }
  attrNames(): string[] {
    return [];
  }
  truth(): boolean {
    return true;
  }
  hash(): number {
    throw err(`unhashable: ${this.type()}`);
  }
  iterate(): Value[] {
    const s = this.s;
    switch (this.kind) {
      case "elems":
        return s.split("");
      case "elem_ords": {
        const out: Value[] = [];
        for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
        return out;
      }
      case "codepoints":
        return codepoints(s);
      default:
        return codepoints(s).map((c) => c.codePointAt(0)!);
    }
  }
  len(): number {
    return this.type() === "string.elems" ? this.s.length : -1;
  }
  index(i: Value): Value {
    if (this.type() !== "string.elems") throw err(`unhandled index operation ${this.type()}[${typeName(i)}]`);
    if (typeof i !== "number") throw err(`${this.type()} index: got ${typeName(i)}, want int`);
    const n = this.s.length,
      j = i < 0 ? i + n : i;
    if (j < 0 || j >= n) throw err(n === 0 ? `index ${i} out of range: empty ${this.type()}` : `${this.type()} index ${i} out of range [${-n}:${n - 1}]`);
    return this.kind === "elems" ? this.s[j] : this.s.charCodeAt(j);
  }
}

/** b.elems(): an iterable view of a bytes value's ints. */
export class BytesElems implements HostValue {
  constructor(readonly b: Bytes) {}
  type(): string {
    return "bytes.elems";
  }
  str(): string {
    return `${repr(this.b)}.elems()`;
  }
  attr(): Value | undefined {
    return undefined;
  }
  attrNames(): string[] {
    return [];
  }
  truth(): boolean {
    return true;
  }
  hash(): number {
    throw err(`unhashable: ${this.type()}`);
  }
  iterate(): Value[] {
    return Array.from(this.b.b);
  }
}

export function joinChecked(xs: Value): string[] {
  return mustIterate(xs).map((x) => wantStr("join", x));
}
