// Operators: binary and unary arithmetic, membership, indexing, slicing and attributes.
import { StarlarkError } from "./errors.js";
import { nearest } from "./resolver.js";
import { bytesMethods, Method, percentFormat, stringMethods } from "./string.js";
import { dictMethods, listMethods, setDifference, setIntersection, setMethods, setSymDiff, setUnion } from "./methods.js";
import {
  Builtin,
  Bytes,
  Dict,
  Float,
  HashTable,
  List,
  Range,
  StarSet,
  Tuple,
  Value,
  compare,
  equals,
  err,
  intAdd,
  intBitwise,
  intFloorDiv,
  intMod,
  intMul,
  intSub,
  isHostValue,
  toFloat,
  typeName,
  big,
  normInt,
} from "./values.js";
import { repr } from "./repr.js";

const MAX_REPEAT = 1 << 28;

function isNum(v: Value): v is number | bigint | Float {
  return typeof v === "number" || typeof v === "bigint" || v instanceof Float;
}

function floatMod(x: number, y: number): number {
  if (y === 0) throw err("floating-point modulo by zero");
  let r = x % y;
  if (r !== 0 && r < 0 !== y < 0) r += y;
  return r;
}

function repeat<T>(xs: T[], n: number | bigint): T[] {
  if (xs.length === 0) return [];
  if (typeof n === "bigint" || n > 2147483647 || n < -2147483648) throw err(`repeat count ${n} too large`);
  if (n * xs.length > MAX_REPEAT) {
    if (n <= 0) return [];
    throw err(`excessive repeat (${xs.length} * ${n} elements)`);
  }
  const out: T[] = [];
  for (let i = 0; i < n; i++) for (const x of xs) out.push(x);
  return out;
}

function repeatStr(s: string, n: number | bigint): string {
  if (s === "") return "";
  if (typeof n === "bigint" || n > 2147483647 || n < -2147483648) throw err(`repeat count ${n} too large`);
  if (n <= 0) return "";
  if (s.length * n > MAX_REPEAT) throw err(`excessive repeat (${s.length} * ${n} elements)`);
  return s.repeat(n);
}

function unknownBinary(op: string, x: Value, y: Value): never {
  throw err(`unknown binary op: ${typeName(x)} ${op} ${typeName(y)}`);
}

/** x op y for the arithmetic, bitwise and set operators (not comparisons or `in`). */
export function binary(op: string, x: Value, y: Value): Value {
  switch (op) {
    case "+":
      if (typeof x === "string" && typeof y === "string") return x + y;
      if ((typeof x === "number" || typeof x === "bigint") && (typeof y === "number" || typeof y === "bigint")) return intAdd(x, y);
      if (isNum(x) && isNum(y)) return new Float(toFloat(x) + toFloat(y));
      if (x instanceof List && y instanceof List) return new List(x.elems.concat(y.elems));
      if (x instanceof Tuple && y instanceof Tuple) return new Tuple(x.elems.concat(y.elems));
      if (x instanceof Bytes && y instanceof Bytes) {
        const b = new Uint8Array(x.b.length + y.b.length);
        b.set(x.b);
        b.set(y.b, x.b.length);
        return new Bytes(b);
      }
      break;
    case "-":
      if ((typeof x === "number" || typeof x === "bigint") && (typeof y === "number" || typeof y === "bigint")) return intSub(x, y);
      if (isNum(x) && isNum(y)) return new Float(toFloat(x) - toFloat(y));
      if (x instanceof StarSet && y instanceof StarSet) return setDifference(x, y);
      break;
    case "*":
      if ((typeof x === "number" || typeof x === "bigint") && (typeof y === "number" || typeof y === "bigint")) return intMul(x, y);
      if (isNum(x) && isNum(y)) return new Float(toFloat(x) * toFloat(y));
      if (typeof x === "string" && (typeof y === "number" || typeof y === "bigint")) return repeatStr(x, y);
      if (typeof y === "string" && (typeof x === "number" || typeof x === "bigint")) return repeatStr(y, x);
      if (typeof y === "number" || typeof y === "bigint") {
        if (x instanceof List) return new List(repeat(x.elems, y));
        if (x instanceof Tuple) return new Tuple(repeat(x.elems, y));
        if (x instanceof Bytes) return new Bytes(Uint8Array.from(repeat(Array.from(x.b), y)));
      }
      if (typeof x === "number" || typeof x === "bigint") {
        if (y instanceof List) return new List(repeat(y.elems, x));
        if (y instanceof Tuple) return new Tuple(repeat(y.elems, x));
        if (y instanceof Bytes) return new Bytes(Uint8Array.from(repeat(Array.from(y.b), x)));
      }
      break;
    case "/":
      if (isNum(x) && isNum(y)) {
        // as starlark-go: each operand to a float first (an int too large for one is an error)
        if (typeof x === "bigint" && !isFinite(Number(x))) throw err("int too large to convert to float");
        if (typeof y === "bigint" && !isFinite(Number(y))) throw err("int too large to convert to float");
        const d = toFloat(y);
        if (d === 0) throw err("floating-point division by zero");
        return new Float(toFloat(x) / d);
      }
      break;
    case "//":
      if ((typeof x === "number" || typeof x === "bigint") && (typeof y === "number" || typeof y === "bigint")) return intFloorDiv(x, y);
      if (isNum(x) && isNum(y)) {
        const d = toFloat(y);
        if (d === 0) throw err("floored division by zero");
        return new Float(Math.floor(toFloat(x) / d));
      }
      break;
    case "%":
      if ((typeof x === "number" || typeof x === "bigint") && (typeof y === "number" || typeof y === "bigint")) return intMod(x, y);
      if (isNum(x) && isNum(y)) return new Float(floatMod(toFloat(x), toFloat(y)));
      if (typeof x === "string") return percentFormat(x, y);
      break;
    case "&":
    case "|":
    case "^":
      if ((typeof x === "number" || typeof x === "bigint") && (typeof y === "number" || typeof y === "bigint")) return intBitwise(op, x, y);
      if (x instanceof StarSet && y instanceof StarSet) {
        return op === "&" ? setIntersection(x, y) : op === "|" ? setUnion(x, y.keys()) : setSymDiff(x, y);
      }
      if (op === "|" && x instanceof Dict && y instanceof Dict) {
        const d = new Dict();
        for (const [k, v] of x.entries()) d.set(k, v);
        for (const [k, v] of y.entries()) d.set(k, v);
        return d;
      }
      break;
    case "<<":
    case ">>":
      if (typeof x === "number" || typeof x === "bigint") {
        // starlark-go: the count must be an int that fits in 32 bits
        if (typeof y !== "number" && typeof y !== "bigint") throw err(`got ${typeName(y)}, want int`);
        if (typeof y === "bigint" || y < -2147483648 || y > 2147483647) throw err(`${y} out of range`);
        return intBitwise(op, x, y);
      }
      break;
    case "==":
      return equals(x, y);
    case "!=":
      return !equals(x, y);
    case "<":
      return compare(op, x, y) < 0;
    case "<=":
      return compare(op, x, y) <= 0;
    case ">":
      return compare(op, x, y) > 0;
    case ">=":
      return compare(op, x, y) >= 0;
    case "in":
      return contains(y, x);
    case "not in":
      return !contains(y, x);
  }
  return unknownBinary(op, x, y);
}

/** `x in coll` */
export function contains(coll: Value, x: Value): boolean {
  if (typeof coll === "string") {
    if (typeof x !== "string") throw err(`'in <string>' requires string as left operand, not ${typeName(x)}`);
    return coll.includes(x);
  }
  if (coll instanceof List || coll instanceof Tuple) {
    for (const e of coll.elems) if (e === x || equals(e, x)) return true;
    return false;
  }
  if (coll instanceof Dict) {
    // starlark-go: `x in dict` is False for an unhashable x (a set says it is unhashable)
    if (typeof x === "string") return coll.getStr(x) !== undefined;
    try {
      return coll.get(x) !== undefined;
    } catch (e) {
      if (e instanceof StarlarkError && e.msg.startsWith("unhashable")) return false;
      throw e;
    }
  }
  if (coll instanceof HashTable) return coll.get(x) !== undefined;
  if (coll instanceof Range) {
    if (typeof x !== "number") {
      if (x instanceof Float && Number.isInteger(x.v)) x = x.v;
      else return false;
    }
    const n = coll.length;
    if (n === 0) return false;
    const i = (x - coll.start) / coll.step;
    return Number.isInteger(i) && i >= 0 && i < n;
  }
  if (coll instanceof Bytes) {
    if (typeof x === "number") {
      if (x < 0 || x > 255) throw err(`int in bytes: ${x} out of range`);
      return coll.b.includes(x);
    }
    if (x instanceof Bytes) return Buffer.from(coll.b).includes(Buffer.from(x.b));
    throw err(`'in bytes' requires bytes or int as left operand, not ${typeName(x)}`);
  }
  throw err(`unknown binary op: ${typeName(x)} in ${typeName(coll)}`);
}

export function unary(op: string, x: Value): Value {
  switch (op) {
    case "-":
      if (typeof x === "number") return x === 0 ? 0 : -x;
      if (typeof x === "bigint") return normInt(-x);
      if (x instanceof Float) return new Float(-x.v);
      break;
    case "+":
      if (typeof x === "number" || typeof x === "bigint" || x instanceof Float) return x;
      break;
    case "~":
      if (typeof x === "number" && (x | 0) === x) return ~x;
      if (typeof x === "number" || typeof x === "bigint") return normInt(-big(x) - 1n);
      break;
  }
  throw err(`unknown unary op: ${op} ${typeName(x)}`);
}

// ---------------------------------------------------------------- indexing

function checkIndex(x: Value, i: Value, n: number): number {
  if (typeof i !== "number" || i < -2147483648 || i > 2147483647) {
    if (typeof i === "bigint" || typeof i === "number") throw err(`${typeName(x)} index: ${i} out of range`);
    throw err(`${typeName(x)} index: got ${typeName(i)}, want int`);
  }
  const j = i < 0 ? i + n : i;
  if (j < 0 || j >= n) throw err(n === 0 ? `index ${i} out of range: empty ${typeName(x)}` : `${typeName(x)} index ${i} out of range [${-n}:${n - 1}]`);
  return j;
}

export function index(x: Value, i: Value): Value {
  if (x instanceof List || x instanceof Tuple) return x.elems[checkIndex(x, i, x.elems.length)];
  if (x instanceof Dict) {
    const v = x.get(i);
    if (v === undefined) throw err(`key ${repr(i)} not in dict`);
    return v;
  }
  if (typeof x === "string") return x[checkIndex(x, i, x.length)];
  if (x instanceof Range) return x.at(checkIndex(x, i, x.length));
  if (x instanceof Bytes) return x.b[checkIndex(x, i, x.b.length)];
  if (isHostValue(x) && typeof (x as unknown as { index?: (k: Value) => Value }).index === "function") {
    return (x as unknown as { index: (k: Value) => Value }).index(i);
  }
  throw err(`unhandled index operation ${typeName(x)}[${typeName(i)}]`);
}

export function setIndex(x: Value, i: Value, v: Value): void {
  if (x instanceof List) {
    const j = checkIndex(x, i, x.elems.length);
    if (x.frozen || x.itercount > 0) x.checkMutable("assign to element of");
    x.elems[j] = v;
    return;
  }
  if (x instanceof Dict) {
    x.set(i, v);
    return;
  }
  throw err(`${typeName(x)} value does not support item assignment`);
}

function sliceIndices(n: number, lo: Value, hi: Value, stepV: Value): [number, number, number] {
  let step = 1;
  if (stepV !== null) {
    if (typeof stepV !== "number" || stepV < -2147483648 || stepV > 2147483647) {
      throw err(`invalid slice step: ${typeof stepV === "number" || typeof stepV === "bigint" ? `${stepV} out of range` : `got ${typeName(stepV)}, want int`}`);
    }
    step = stepV;
    if (step === 0) throw err("zero is not a valid slice step");
  }
  // As starlark-go's asIndex: an index must be an int that fits in 32 bits.
  const conv = (v: Value, dflt: number, which: string): number => {
    if (v === null) return dflt;
    if (typeof v !== "number" || v < -2147483648 || v > 2147483647) {
      throw err(`invalid ${which} index: ${typeof v === "number" || typeof v === "bigint" ? `${v} out of range` : `got ${typeName(v)}, want int`}`);
    }
    let i = v;
    if (i < 0) i += n;
    if (step > 0) return Math.max(0, Math.min(n, i));
    return Math.max(-1, Math.min(n - 1, i));
  };
  if (step > 0) return [conv(lo, 0, "start"), conv(hi, n, "end"), step];
  return [conv(lo, n - 1, "start"), conv(hi, -1, "end"), step];
}

export function slice(x: Value, lo: Value, hi: Value, step: Value): Value {
  let n: number;
  if (typeof x === "string") n = x.length;
  else if (x instanceof List || x instanceof Tuple) n = x.elems.length;
  else if (x instanceof Bytes) n = x.b.length;
  else if (x instanceof Range) n = x.length;
  else throw err(`invalid slice operand ${typeName(x)}`);
  const [a, b, s] = sliceIndices(n, lo, hi, step);
  if (x instanceof Range) {
    const start = x.at(a),
      st = x.step * s;
    const count = s > 0 ? Math.max(0, Math.ceil((b - a) / s)) : Math.max(0, Math.ceil((a - b) / -s));
    return new Range(start, start + count * st, st);
  }
  if (s === 1) {
    if (typeof x === "string") return x.slice(a, Math.max(a, b));
    if (x instanceof List) return new List(x.elems.slice(a, Math.max(a, b)));
    if (x instanceof Tuple) return new Tuple(x.elems.slice(a, Math.max(a, b)));
    return new Bytes((x as Bytes).b.slice(a, Math.max(a, b)));
  }
  const idx: number[] = [];
  if (s > 0) for (let i = a; i < b; i += s) idx.push(i);
  else for (let i = a; i > b; i += s) idx.push(i);
  if (typeof x === "string") return idx.map((i) => x[i]).join("");
  if (x instanceof List) return new List(idx.map((i) => x.elems[i]));
  if (x instanceof Tuple) return new Tuple(idx.map((i) => x.elems[i]));
  return new Bytes(Uint8Array.from(idx.map((i) => (x as Bytes).b[i])));
}

// ---------------------------------------------------------------- attributes

export function methodsOf(x: Value): Record<string, Method> | undefined {
  if (typeof x === "string") return stringMethods;
  if (x instanceof List) return listMethods;
  if (x instanceof Dict) return dictMethods;
  if (x instanceof StarSet) return setMethods;
  if (x instanceof Bytes) return bytesMethods;
  return undefined;
}

export function bindMethod(name: string, m: Method, recv: Value): Builtin {
  return new Builtin(name, (th, args, kw) => m(th, recv, args, kw), recv);
}

export function attrNames(x: Value): string[] {
  const ms = methodsOf(x);
  if (ms) return Object.keys(ms).sort();
  if (isHostValue(x)) return x.attrNames().slice().sort();
  return [];
}

export function getAttr(x: Value, name: string): Value {
  const ms = methodsOf(x);
  if (ms) {
    const m = Object.hasOwn(ms, name) ? ms[name] : undefined;
    if (m) return bindMethod(name, m, x);
  } else if (isHostValue(x)) {
    const v = x.attr(name);
    if (v !== undefined) return v;
  }
  throw noAttr(x, name);
}

export function hasAttr(x: Value, name: string): boolean {
  const ms = methodsOf(x);
  if (ms) return Object.hasOwn(ms, name);
  if (isHostValue(x)) return x.attr(name) !== undefined;
  return false;
}

export function noAttr(x: Value, name: string): Error {
  const n = nearest(name, attrNames(x));
  return err(`${typeName(x)} has no .${name} field or method${n ? ` (did you mean .${n}?)` : ""}`);
}

export function setAttr(x: Value, name: string, v: Value): void {
  if (isHostValue(x) && typeof (x as unknown as { setAttr?: (n: string, v: Value) => void }).setAttr === "function") {
    (x as unknown as { setAttr: (n: string, v: Value) => void }).setAttr(name, v);
    return;
  }
  throw err(`can't assign to .${name} field of ${typeName(x)}`);
}
