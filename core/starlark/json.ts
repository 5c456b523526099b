// The json module: encode, decode, indent, encode_indent (as starlark-go's lib/json).
import { unpackArgs, positional } from "./unpack.js";
import { StarlarkError } from "./errors.js";
import {
  Builtin, Dict, Float, List, Struct, Value, err, formatFloatG, isHostValue, iterValues, normInt, typeName,
} from "./values.js";

const quoteJSON = (s: string): string => quoteString(s);

/** As starlark-go: printable ASCII as Go quotes it, anything else as Go's json.Marshal. */
function quoteString(s: string): string {
  const q = JSON.stringify(s);
  if (/^[\x20-\x7e]*$/.test(s)) return q;
  return q.replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/** json.encode, as starlark-go's: floats stay floats (2.0), any iterable is an array. */
export function encode(x: Value, path: Set<unknown> = new Set()): string {
  if (x === null) return "null";
  switch (typeof x) {
    case "boolean": return x ? "true" : "false";
    case "number": case "bigint": return String(x);
    case "string": return quoteString(x);
  }
  if (x instanceof Float) {
    if (!isFinite(x.v)) throw err(`cannot encode non-finite float ${formatFloatG(x.v)}`);
    return formatFloatG(x.v);
  }
  if (path.has(x)) throw err(`cycle in JSON structure`);
  path.add(x);
  try {
    if (x instanceof Dict) {
      const items = x.entries();
      for (const [k] of items) if (typeof k !== "string") throw err(`dict has ${typeName(k)} key, want string`);
      items.sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : (a[0] as string) > (b[0] as string) ? 1 : 0));
      return "{" + items.map(([k, v]) => {
        try {
          return quoteString(k as string) + ":" + encode(v, path);
        } catch (e) {
          throw nested(e, `in dict key ${quoteString(k as string)}: `);
        }
      }).join(",") + "}";
    }
    const xs = iterValues(x);
    if (xs !== undefined) {
      return "[" + xs.map((e, i) => {
        try {
          return encode(e, path);
        } catch (e) {
          throw nested(e, `at ${typeName(x)} index ${i}: `);
        }
      }).join(",") + "]";
    }
    if (isHostValue(x)) {
      const names = x.attrNames().slice().sort();
      return "{" + names.map((n) => {
        try {
          return quoteString(n) + ":" + encode(x.attr(n) ?? null, path);
        } catch (e) {
          throw nested(e, `in field .${n}: `);
        }
      }).join(",") + "}";
    }
  } finally {
    path.delete(x);
  }
  throw err(`cannot encode ${typeName(x)} as JSON`);
}

function nested(e: unknown, prefix: string): unknown {
  if (e instanceof StarlarkError && !e.located) e.setMsg(prefix + e.msg);
  return e;
}

class Decoder {
  i = 0;
  depth = 0;
  constructor(readonly s: string) {}
  fail(msg: string): never {
    throw err(`json.decode: at offset ${this.i}, ${msg}`);
  }
  ws(): void {
    while (this.i < this.s.length && " \t\r\n".includes(this.s[this.i])) this.i++;
  }
  value(): Value {
    this.ws();
    if (this.i >= this.s.length) this.fail("unexpected end of file");
    const c = this.s[this.i];
    if (c === "{") {
      ++this.depth;
      this.i++;
      const d = new Dict();
      this.ws();
      if (this.s[this.i] === "}") { this.i++; this.depth--; return d; }
      for (;;) {
        this.ws();
        if (this.s[this.i] !== '"') this.fail("got " + (this.s[this.i] ?? "end of file") + ", want string");
        const k = this.string();
        this.ws();
        if (this.s[this.i] !== ":") this.fail("after object key, got " + (this.s[this.i] ?? "end of file") + ", want ':'");
        this.i++;
        d.set(k, this.value());
        this.ws();
        if (this.s[this.i] === ",") { this.i++; continue; }
        if (this.s[this.i] === "}") { this.i++; this.depth--; return d; }
        this.fail("in object, got " + (this.s[this.i] ?? "end of file") + ", want ',' or '}'");
      }
    }
    if (c === "[") {
      ++this.depth;
      this.i++;
      const out: Value[] = [];
      this.ws();
      if (this.s[this.i] === "]") { this.i++; this.depth--; return new List(out); }
      for (;;) {
        out.push(this.value());
        this.ws();
        if (this.s[this.i] === ",") { this.i++; continue; }
        if (this.s[this.i] === "]") { this.i++; this.depth--; return new List(out); }
        this.fail("in array, got " + (this.s[this.i] ?? "end of file") + ", want ',' or ']'");
      }
    }
    if (c === '"') return this.string();
    for (const [lit, v] of [["null", null], ["true", true], ["false", false]] as [string, Value][]) {
      if (this.s.startsWith(lit, this.i)) { this.i += lit.length; return v; }
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.s.slice(this.i));
    if (m && m[0] !== "" && m[0] !== "-") {
      this.i += m[0].length;
      if (m[2] || m[3]) return new Float(Number(m[0]));
      return normInt(BigInt(m[0]));
    }
    this.fail(`unexpected character ${JSON.stringify(c)}`);
  }
  string(): string {
    const start = this.i;
    this.i++;
    let simple = true;
    while (this.i < this.s.length && this.s[this.i] !== '"') {
      const c = this.s.charCodeAt(this.i);
      if (c < 0x20) this.fail("control character in string");
      if (c === 0x5c) { simple = false; this.i++; }
      this.i++;
    }
    if (this.i >= this.s.length) this.fail("unexpected end of file in string");
    this.i++;
    const raw = this.s.slice(start, this.i);
    if (simple) return raw.slice(1, -1);
    try {
      return JSON.parse(raw) as string;
    } catch {
      this.i = start;
      this.fail("invalid string escape");
    }
  }
}

export function decode(s: string): Value {
  const d = new Decoder(s);
  const v = d.value();
  d.ws();
  if (d.i < s.length) d.fail(`unexpected character ${JSON.stringify(s[d.i])} after value`);
  return v;
}

export function indent(s: string, prefix: string, ind: string): string {
  const v = decode(s); // validates
  const out: string[] = [];
  const write = (x: Value, level: number): void => {
    const nl = (l: number) => "\n" + prefix + ind.repeat(l);
    if (x instanceof List) {
      if (x.elems.length === 0) { out.push("[]"); return; }
      out.push("[");
      x.elems.forEach((e, i) => { if (i > 0) out.push(","); out.push(nl(level + 1)); write(e, level + 1); });
      out.push(nl(level) + "]");
    } else if (x instanceof Dict) {
      const items = x.entries();
      if (items.length === 0) { out.push("{}"); return; }
      out.push("{");
      items.forEach(([k, e], i) => { if (i > 0) out.push(","); out.push(nl(level + 1) + quoteJSON(k as string) + ": "); write(e, level + 1); });
      out.push(nl(level) + "}");
    } else out.push(encode(x));
  };
  write(v, 0);
  return out.join("");
}

function withName<T>(name: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw nested(e, `${name}: `);
  }
}

function strArg(fn: string, what: string, v: Value, dflt: string): string {
  if (v === null) return dflt;
  if (typeof v !== "string") throw err(`${fn}: for parameter ${what}: got ${typeName(v)}, want string`);
  return v;
}

export const json = new Struct("module", {
  encode: new Builtin("json.encode", (_th, args, kw) => {
    positional("json.encode", args, kw, 1, 1);
    return withName("json.encode", () => encode(args[0]));
  }),
  decode: new Builtin("json.decode", (_th, args, kw) => {
    const [x, dflt] = unpackArgs("json.decode", args, kw, "x", "default?");
    if (args.length < 1) throw err("json.decode: unexpected keyword argument x");
    if (typeof x !== "string") throw err(`json.decode: for parameter x: got ${typeName(x)}, want string`);
    const hasDefault = args.length > 1 || kw.some(([k]) => k === "default");
    try {
      return decode(x);
    } catch (e) {
      if (hasDefault) return dflt;
      throw e;
    }
  }),
  indent: new Builtin("json.indent", (_th, args, kw) => {
    // prefix and indent by keyword only, the string by position only (as starlark-go)
    const [prefix, ind] = unpackArgs("json.indent", [], kw, "prefix?", "indent?");
    positional("json.indent", args, [], 1, 1);
    const s = args[0];
    if (typeof s !== "string") throw err(`json.indent: for parameter 1: got ${typeName(s)}, want string`);
    return indent(s, strArg("json.indent", "prefix", prefix, ""), strArg("json.indent", "indent", ind, "\t"));
  }),
  encode_indent: new Builtin("json.encode_indent", (_th, args, kw) => {
    const [prefix, ind] = unpackArgs("json.encode_indent", [], kw, "prefix?", "indent?");
    positional("json.encode_indent", args, [], 1, 1);
    const x = args[0];
    return indent(withName("json.encode_indent", () => encode(x)), strArg("json.encode_indent", "prefix", prefix, ""), strArg("json.encode_indent", "indent", ind, "\t"));
  }),
});
(json as unknown as { repr: () => string }).repr = () => '<module "json">';
(json as unknown as { str: () => string }).str = () => '<module "json">';
