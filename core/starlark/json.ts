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

/** Go's %q of a byte: 'x', with Go's escapes. */
function goQuoteByte(c: string | undefined): string {
  if (c === undefined) return "'\\x00'";
  const esc: Record<string, string> = { "\n": "\\n", "\t": "\\t", "\r": "\\r", "'": "\\'", "\\": "\\\\" };
  if (esc[c]) return `'${esc[c]}'`;
  const n = c.charCodeAt(0);
  if (n < 0x20 || n === 0x7f) return `'\\x${n.toString(16).padStart(2, "0")}'`;
  return `'${c}'`;
}

/** json.decode, as starlark-go's decoder (its structure and its errors). */
class Decoder {
  i = 0;
  constructor(readonly s: string) {}
  fail(msg: string): never {
    throw err(`json.decode: at offset ${this.i}, ${msg}`);
  }
  next(): string {
    while (this.i < this.s.length && " \t\r\n".includes(this.s[this.i])) this.i++;
    if (this.i >= this.s.length) this.fail("unexpected end of file");
    return this.s[this.i];
  }
  value(): Value {
    const s = this.s;
    let b = this.next();
    switch (b) {
      case '"': {
        let safe = true, closed = false, j = this.i + 1;
        for (; j < s.length; j++) {
          const c = s[j];
          if (c === "\\") { safe = false; j++; }
          else if (c === '"') { closed = true; j++; break; }
          else if (c.charCodeAt(0) >= 0x80 || c.charCodeAt(0) < 0x20) safe = false;
        }
        if (!closed) this.fail("unclosed string literal");
        const r = s.slice(this.i, j);
        this.i = j;
        if (safe) return r.slice(1, -1);
        try {
          return JSON.parse(r) as string;
        } catch {
          this.fail(`invalid string literal ${r}`);
        }
      }
      // eslint-disable-next-line no-fallthrough
      case "n": if (s.startsWith("null", this.i)) { this.i += 4; return null; } break;
      case "t": if (s.startsWith("true", this.i)) { this.i += 4; return true; } break;
      case "f": if (s.startsWith("false", this.i)) { this.i += 5; return false; } break;
      case "[": {
        const elems: Value[] = [];
        this.i++;
        b = this.next();
        if (b !== "]") {
          for (;;) {
            elems.push(this.value());
            b = this.next();
            if (b !== ",") {
              if (b !== "]") this.fail(`got ${goQuoteByte(b)}, want ',' or ']'`);
              break;
            }
            this.i++;
          }
        }
        this.i++;
        return new List(elems);
      }
      case "{": {
        const d = new Dict();
        this.i++;
        b = this.next();
        if (b !== "}") {
          for (;;) {
            const key = this.value();
            if (typeof key !== "string") this.fail(`got ${typeName(key)} for object key, want string`);
            b = this.next();
            if (b !== ":") this.fail(`after object key, got ${goQuoteByte(b)}, want ':' `);
            this.i++;
            d.set(key, this.value());
            b = this.next();
            if (b !== ",") {
              if (b !== "}") this.fail(`in object, got ${goQuoteByte(b)}, want ',' or '}'`);
              break;
            }
            this.i++;
          }
        }
        this.i++;
        return d;
      }
      default:
        if ((b >= "0" && b <= "9") || b === "-") {
          let float = false, j = this.i + 1;
          for (; j < s.length; j++) {
            const c = s[j];
            if (c >= "0" && c <= "9") continue;
            if (c === "." || c === "e" || c === "E" || c === "+" || c === "-") float = true;
            else break;
          }
          const num = s.slice(this.i, j);
          this.i = j;
          const digits = num[0] === "-" ? num.slice(1) : num;
          if (digits === "" || (digits[0] === "0" && digits.length > 1 && digits[1] >= "0" && digits[1] <= "9")) this.fail(`invalid number: ${num}`);
          if (float) {
            if (!/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(num)) this.fail(`invalid number: ${num}`);
            return new Float(Number(num));
          }
          if (!/^-?\d+$/.test(num)) this.fail(`invalid number: ${num}`);
          return normInt(BigInt(num));
        }
    }
    this.fail(`unexpected character ${goQuoteByte(b)}`);
  }
  ws(): void {
    while (this.i < this.s.length && " \t\r\n".includes(this.s[this.i])) this.i++;
  }
}

export function decode(s: string): Value {
  const d = new Decoder(s);
  const v = d.value();
  d.ws();
  if (d.i < s.length) d.fail(`unexpected character ${goQuoteByte(s[d.i])} after value`);
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
