// The json module: encode, decode, indent, encode_indent (as starlark-go's lib/json).
import { unpackArgs, positional } from "./unpack.js";
import { StarlarkError } from "./errors.js";
import { Builtin, Dict, Float, List, Value, err, isHostValue, iterValues, normInt, typeName } from "./values.js";
import { formatFloatG } from "./repr.js";
import { Struct } from "./struct.js";

const quoteJSON = (s: string): string => quoteString(s);

/** As starlark-go: printable ASCII as Go quotes it, anything else as Go's json.Marshal. */
function quoteString(s: string): string {
  const q = JSON.stringify(s);
  if (/^[\x20-\x7e]*$/.test(s)) return q;
  return q.replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/** One container being written by encode: its items, the next one, and how errors inside it are prefixed. */
interface EncFrame {
  x: Value;
  keys: string[] | null;
  vals: Value[];
  i: number;
  close: string;
  label: (i: number) => string;
}

/**
 * json.encode, as starlark-go's: floats stay floats (2.0), any iterable is an array, dict keys
 * sorted. With a stack, not recursion, so any depth encodes; an error inside a container
 * names where, outermost first ('in dict key "a": at list index 0: ...').
 */
export function encode(x0: Value): string {
  const out: string[] = [];
  const frames: EncFrame[] = [];
  const path = new Set<unknown>();
  const fail = (msg: string): never => {
    throw err(frames.map((f) => f.label(f.i - 1)).join("") + msg);
  };
  const emit = (x: Value): void => {
    if (x === null) {
      out.push("null");
      return;
    }
    switch (typeof x) {
      case "boolean":
        out.push(x ? "true" : "false");
        return;
      case "number":
      case "bigint":
        out.push(String(x));
        return;
      case "string":
        out.push(quoteString(x));
        return;
    }
    if (x instanceof Float) {
      if (!isFinite(x.v)) fail(`cannot encode non-finite float ${formatFloatG(x.v)}`);
      out.push(formatFloatG(x.v));
      return;
    }
    if (path.has(x)) fail("cycle in JSON structure");
    if (x instanceof Dict) {
      const items = x.entries();
      for (const [k] of items) if (typeof k !== "string") fail(`dict has ${typeName(k)} key, want string`);
      items.sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : (a[0] as string) > (b[0] as string) ? 1 : 0));
      const keys = items.map(([k]) => k as string);
      path.add(x);
      out.push("{");
      frames.push({ x, keys, vals: items.map(([, v]) => v), i: 0, close: "}", label: (i) => `in dict key ${quoteString(keys[i])}: ` });
      return;
    }
    const xs = iterValues(x);
    if (xs !== undefined) {
      path.add(x);
      out.push("[");
      const t = typeName(x);
      frames.push({ x, keys: null, vals: xs, i: 0, close: "]", label: (i) => `at ${t} index ${i}: ` });
      return;
    }
    if (isHostValue(x)) {
      const keys = x.attrNames().slice().sort();
      path.add(x);
      out.push("{");
      frames.push({ x, keys, vals: keys.map((n) => x.attr(n) ?? null), i: 0, close: "}", label: (i) => `in field .${keys[i]}: ` });
      return;
    }
    fail(`cannot encode ${typeName(x)} as JSON`);
  };
  emit(x0);
  while (frames.length > 0) {
    const f = frames[frames.length - 1];
    if (f.i >= f.vals.length) {
      out.push(f.close);
      path.delete(f.x);
      frames.pop();
      continue;
    }
    if (f.i > 0) out.push(",");
    if (f.keys) out.push(quoteString(f.keys[f.i]) + ":");
    const v = f.vals[f.i++];
    emit(v);
  }
  return out.join("");
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
  /** One JSON value, with a stack of open arrays and objects (any depth; starlark-go's errors). */
  value(): Value {
    const s = this.s;
    type Open = { kind: "list"; elems: Value[] } | { kind: "dict"; d: Dict; key: string | undefined };
    const stack: Open[] = [];
    for (;;) {
      // a value's start
      let b = this.next();
      let v: Value;
      if (b === "[") {
        this.i++;
        if (this.next() === "]") {
          this.i++;
          v = new List([]);
        } else {
          stack.push({ kind: "list", elems: [] });
          continue;
        }
      } else if (b === "{") {
        this.i++;
        if (this.next() === "}") {
          this.i++;
          v = new Dict();
        } else {
          stack.push({ kind: "dict", d: new Dict(), key: undefined });
          continue;
        }
      } else v = this.scalar(b);
      // complete the open containers v ends
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) return v;
        if (top.kind === "list") {
          top.elems.push(v);
          b = this.next();
          if (b === ",") {
            this.i++;
            break;
          }
          if (b !== "]") this.fail(`got ${goQuoteByte(b)}, want ',' or ']'`);
          this.i++;
          v = new List(top.elems);
          stack.pop();
          continue;
        }
        if (top.key === undefined) {
          if (typeof v !== "string") this.fail(`got ${typeName(v)} for object key, want string`);
          top.key = v;
          b = this.next();
          if (b !== ":") this.fail(`after object key, got ${goQuoteByte(b)}, want ':' `);
          this.i++;
          break;
        }
        top.d.set(top.key, v);
        top.key = undefined;
        b = this.next();
        if (b === ",") {
          this.i++;
          break;
        }
        if (b !== "}") this.fail(`in object, got ${goQuoteByte(b)}, want ',' or '}'`);
        this.i++;
        v = top.d;
        stack.pop();
      }
    }
  }
  /** A string, null, true, false or a number. */
  private scalar(b: string): Value {
    const s = this.s;
    switch (b) {
      case '"': {
        let safe = true,
          closed = false,
          j = this.i + 1;
        for (; j < s.length; j++) {
          const c = s[j];
          if (c === "\\") {
            safe = false;
            j++;
          } else if (c === '"') {
            closed = true;
            j++;
            break;
          } else if (c.charCodeAt(0) >= 0x80 || c.charCodeAt(0) < 0x20) safe = false;
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
      case "n":
        if (s.startsWith("null", this.i)) {
          this.i += 4;
          return null;
        }
        break;
      case "t":
        if (s.startsWith("true", this.i)) {
          this.i += 4;
          return true;
        }
        break;
      case "f":
        if (s.startsWith("false", this.i)) {
          this.i += 5;
          return false;
        }
        break;
      default:
        if ((b >= "0" && b <= "9") || b === "-") {
          let float = false,
            j = this.i + 1;
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

/** Go's json.Indent: the text reformatted (strings and numbers kept as written), after checking it is JSON. */
export function indent(s: string, prefix: string, ind: string): string {
  try {
    decode(s); // validates (Go's json.Indent words its errors otherwise: docs/language.md)
  } catch (e) {
    if (e instanceof StarlarkError) e.setMsg(e.msg.replace(/^json\.decode: /, ""));
    throw e;
  }
  let out = "",
    depth = 0;
  const nl = (d: number) => "\n" + prefix + ind.repeat(d);
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === " " || c === "\t" || c === "\n" || c === "\r") continue;
    if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === "\\" ? 2 : 1;
      out += s.slice(i, j + 1);
      i = j;
    } else if (c === "[" || c === "{") {
      let j = i + 1;
      while (j < s.length && " \t\n\r".includes(s[j])) j++;
      if (s[j] === (c === "[" ? "]" : "}")) {
        out += c + s[j];
        i = j;
      } else {
        depth++;
        out += c + nl(depth);
      }
    } else if (c === "]" || c === "}") {
      depth--;
      out += nl(depth) + c;
    } else if (c === ",") out += "," + nl(depth);
    else if (c === ":") out += ": ";
    else out += c;
  }
  return out;
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
    return withName("json.indent", () => indent(s, strArg("json.indent", "prefix", prefix, ""), strArg("json.indent", "indent", ind, "\t")));
  }),
  encode_indent: new Builtin("json.encode_indent", (_th, args, kw) => {
    const [prefix, ind] = unpackArgs("json.encode_indent", [], kw, "prefix?", "indent?");
    positional("json.encode_indent", args, [], 1, 1);
    const x = args[0];
    return indent(
      withName("json.encode_indent", () => encode(x)),
      strArg("json.encode_indent", "prefix", prefix, ""),
      strArg("json.encode_indent", "indent", ind, "\t"),
    );
  }),
});
(json as unknown as { repr: () => string }).repr = () => '<module "json">';
(json as unknown as { str: () => string }).str = () => '<module "json">';
