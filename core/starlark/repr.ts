// str and repr of every value (repr with its own stack, so any depth prints), string
// quoting, float formatting as Go's, and UTF-8 decoding as Go's.
import { HashTable } from "./hashtable.js";
import { Builtin, Bytes, Dict, Float, List, Range, StarFunction, StarSet, Tuple, Value, isHostValue, typeName } from "./values.js";

// ---------------------------------------------------------------- floats

/** Format like Go's strconv.FormatFloat(f, 'g', -1, 64), as starlark-go's str(float) does. */
export function formatFloatG(f: number): string {
  if (Number.isNaN(f)) return "nan";
  if (f === Infinity) return "+inf";
  if (f === -Infinity) return "-inf";
  if (f === 0) return Object.is(f, -0) ? "-0.0" : "0.0";
  const e = f.toExponential(); // shortest round-trip digits: d.ddde±x
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(e)!;
  const sign = m[1],
    digits = m[2] + (m[3] ?? ""),
    exp = parseInt(m[4], 10);
  let s: string;
  if (exp < -4 || exp >= 6) {
    const mant = digits.length > 1 ? digits[0] + "." + digits.slice(1) : digits;
    const ax = Math.abs(exp);
    s = `${sign}${mant}e${exp < 0 ? "-" : "+"}${ax < 10 ? "0" + ax : ax}`;
    return s;
  }
  if (exp < 0) s = sign + "0." + "0".repeat(-exp - 1) + digits;
  else if (digits.length <= exp + 1) s = sign + digits + "0".repeat(exp + 1 - digits.length);
  else s = sign + digits.slice(0, exp + 1) + "." + digits.slice(exp + 1);
  if (!s.includes(".")) s += ".0";
  return s;
}

// ---------------------------------------------------------------- str / repr

export function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    switch (c) {
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += "\\\\";
        break;
      case 0x0a:
        out += "\\n";
        break;
      case 0x0d:
        out += "\\r";
        break;
      case 0x09:
        out += "\\t";
        break;
      case 0x07:
        out += "\\a";
        break;
      case 0x08:
        out += "\\b";
        break;
      case 0x0c:
        out += "\\f";
        break;
      case 0x0b:
        out += "\\v";
        break;
      default:
        if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
        else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) < 0xe000) {
          out += s[i] + s[i + 1];
          i++;
        } else if (c >= 0xd800 && c < 0xe000) out += "\\u" + c.toString(16).padStart(4, "0");
        else out += s[i];
    }
  }
  return out + '"';
}

function bytesRepr(b: Uint8Array): string {
  let out = 'b"';
  for (const c of b) {
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c < 0x20 || c >= 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else out += String.fromCharCode(c);
  }
  return out + '"';
}

const strictUTF8 = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 to a string as Go decodes it: each byte of an invalid sequence is one U+FFFD. */
function decodeUTF8(b: Uint8Array): string {
  try {
    return strictUTF8.decode(b);
  } catch {
    let out = "";
    for (let i = 0; i < b.length; ) {
      const c = b[i];
      if (c < 0x80) {
        out += String.fromCharCode(c);
        i++;
        continue;
      }
      let n = 0,
        lo = 0x80,
        hi = 0xbf;
      if (c >= 0xc2 && c <= 0xdf) n = 1;
      else if (c >= 0xe0 && c <= 0xef) {
        n = 2;
        if (c === 0xe0) lo = 0xa0;
        else if (c === 0xed) hi = 0x9f;
      } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;
        if (c === 0xf0) lo = 0x90;
        else if (c === 0xf4) hi = 0x8f;
      }
      let ok = n > 0 && i + n < b.length;
      if (ok) {
        if (b[i + 1] === undefined || b[i + 1] < lo || b[i + 1] > hi) ok = false;
        for (let k = 2; ok && k <= n; k++) if (b[i + k] === undefined || b[i + k] < 0x80 || b[i + k] > 0xbf) ok = false;
      }
      if (!ok) {
        out += "\ufffd";
        i++;
        continue;
      }
      out += strictUTF8.decode(b.subarray(i, i + n + 1));
      i += n + 1;
    }
    return out;
  }
}

export function str(v: Value): string {
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  if (v instanceof Bytes) return decodeUTF8(v.b);
  if (isHostValue(v)) return v.str();
  return repr(v);
}

export function repr(v: Value): string {
  if (typeof v === "number") return String(v);
  const parts: string[] = [];
  writeRepr(parts, v, new Set());
  return parts.join("");
}

/** The repr of a scalar or a non-container value; undefined for lists, tuples, dicts and sets. */
function scalarRepr(v: Value): string | undefined {
  switch (typeof v) {
    case "string":
      return quote(v);
    case "number":
    case "bigint":
      return String(v);
    case "boolean":
      return v ? "True" : "False";
  }
  if (v === null) return "None";
  if (v instanceof Float) return formatFloatG(v.v);
  if (v instanceof List || v instanceof Tuple || v instanceof HashTable) return undefined;
  if (v instanceof StarFunction) return `<function ${v.name}>`;
  if (v instanceof Builtin) return v.recv !== undefined ? `<built-in method ${v.name} of ${typeName(v.recv)} value>` : `<built-in function ${v.name}>`;
  if (v instanceof Bytes) return bytesRepr(v.b);
  if (v instanceof Range) return v.step !== 1 ? `range(${v.start}, ${v.stop}, ${v.step})` : v.start !== 0 ? `range(${v.start}, ${v.stop})` : `range(${v.stop})`;
  if (isHostValue(v)) return v.repr ? v.repr() : v.str();
  return String(v);
}

class Text {
  constructor(readonly s: string) {}
}
class Leave {
  constructor(readonly v: unknown) {}
}
const COMMA = new Text(", "),
  COLON = new Text(": ");

/**
 * repr with an explicit stack, not recursion, so values nested 100,000 deep print (as in
 * starlark-go); a container met again inside itself prints as [...], {...} or ....
 */
function writeRepr(out: string[], v0: Value, path: Set<unknown>): void {
  const todo: unknown[] = [v0];
  while (todo.length > 0) {
    const t = todo.pop();
    if (t instanceof Text) {
      out.push(t.s);
      continue;
    }
    if (t instanceof Leave) {
      path.delete(t.v);
      continue;
    }
    const v = t as Value;
    const sc = scalarRepr(v);
    if (sc !== undefined) {
      out.push(sc);
      continue;
    }
    if (path.has(v)) {
      out.push(v instanceof List ? "[...]" : v instanceof Dict ? "{...}" : "...");
      continue;
    }
    path.add(v);
    todo.push(new Leave(v));
    if (v instanceof List || v instanceof Tuple) {
      out.push(v instanceof List ? "[" : "(");
      todo.push(new Text(v instanceof List ? "]" : v.elems.length === 1 ? ",)" : ")"));
      for (let i = v.elems.length - 1; i >= 0; i--) {
        todo.push(v.elems[i]);
        if (i > 0) todo.push(COMMA);
      }
    } else if (v instanceof Dict) {
      out.push("{");
      todo.push(new Text("}"));
      const es = v.entries();
      for (let i = es.length - 1; i >= 0; i--) {
        todo.push(es[i][1], COLON, es[i][0]);
        if (i > 0) todo.push(COMMA);
      }
    } else {
      out.push("set([");
      todo.push(new Text("])"));
      const ks = (v as StarSet).keys();
      for (let i = ks.length - 1; i >= 0; i--) {
        todo.push(ks[i]);
        if (i > 0) todo.push(COMMA);
      }
    }
  }
}
