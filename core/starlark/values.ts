// Values: the representation of every Starlark type, and the operations the spec defines
// on them (truth, equality, ordering, hashing, freezing, iteration).
//
//   None → null          bool → boolean           int → number (safe integer) or bigint
//   float → Float        string → string (UTF-16)  bytes → Bytes
//   list → List          tuple → Tuple             dict → Dict       set → StarSet
//   function → StarFunction   builtin_function_or_method → Builtin   range → Range
//   host values → any object implementing HostValue (e.g. Struct)
//
// Split by concern, with no import cycle: int.ts (big ints) and hashtable.ts (the table under
// dict and set) import no value type and are re-exported here; repr.ts (str, repr, quote)
// and struct.ts (Struct) import this module, so they are imported from there, not here.
import { StarlarkError } from "./errors.js";
import { EncKey, HashTable, objId, setObjectKey } from "./hashtable.js";
import { big, normInt } from "./int.js";
import type { FunctionInfo } from "./syntax.js";
import type { Thread } from "./thread.js";

export { HashTable } from "./hashtable.js";
export { big, intAdd, intBitwise, intFloorDiv, intMod, intMul, intSub, normInt } from "./int.js";

export interface HostValue {
  type(): string;
  str(): string;
  repr?(): string;
  attr(name: string): Value | undefined;
  attrNames(): string[];
  truth?(): boolean;
  hash?(): number;
  freeze?(): void;
  equals?(other: Value): boolean;
}

export type Value = null | boolean | number | bigint | string | Float | Bytes | List | Tuple | Dict | StarSet | Range | StarFunction | Builtin | HostValue;

export const None = null;
export const True = true;
export const False = false;

/** An error without a position yet; the interpreter locates it at the failing operation. */
export function err(msg: string): StarlarkError {
  return new StarlarkError(msg);
}

/** An error a builtin reports without its name in front (starlark-go words a few that way). */
export function bareErr(msg: string): StarlarkError {
  const e = new StarlarkError(msg);
  e.bare = true;
  return e;
}

// ---------------------------------------------------------------- types

export class Float {
  constructor(readonly v: number) {}
}

export class Bytes {
  constructor(readonly b: Uint8Array) {}
}

export class List {
  frozen = false;
  itercount = 0;
  constructor(public elems: Value[]) {}
  checkMutable(verb: string): void {
    if (this.frozen) throw err(`cannot ${verb} frozen list`);
    if (this.itercount > 0) throw err(`cannot ${verb} list during iteration`);
  }
}

export class Tuple {
  constructor(readonly elems: Value[]) {}
}

export class Range {
  constructor(
    readonly start: number,
    readonly stop: number,
    readonly step: number,
  ) {}
  get length(): number {
    const { start, stop, step } = this;
    if (step > 0) return start < stop ? Math.floor((stop - start - 1) / step) + 1 : 0;
    return start > stop ? Math.floor((start - stop - 1) / -step) + 1 : 0;
  }
  at(i: number): number {
    return this.start + i * this.step;
  }
}

export class Cell {
  constructor(public v: Value) {}
}

export type BuiltinFn = (thread: Thread, args: Value[], kwargs: [string, Value][]) => Value;

/** A function implemented by the host (a builtin_function_or_method value). */
export class Builtin {
  /** for methods: the receiver */
  recv: Value | undefined;
  constructor(
    readonly name: string,
    readonly fn: BuiltinFn,
    recv?: Value,
  ) {
    this.recv = recv;
  }
}

/** What the compiler produces for a def or lambda. */
export interface FuncCode {
  info: FunctionInfo;
  name: string;
  nlocals: number;
  cellSlots: number[];
  recursion: boolean;
  paramNames: string[];
  /** runs the body in a frame: a generated body returns the result, a closure one leaves it in frame.ret */
  body: (fr: import("./thread.js").Frame) => unknown;
  /** whether body is generated JavaScript (codegen.ts) */
  generated: boolean;
  /** calls of this function running now (a second one is recursion) */
  active: number;
  /** no *args, **kwargs or keyword-only parameters */
  simple: boolean;
  nparams: number;
  /** nparams when a positional call can bind its arguments as the locals (simple, no cells), else -1 */
  direct: number;
}

export class StarFunction {
  frozen = false;
  active = 0;
  constructor(
    readonly name: string,
    readonly code: FuncCode,
    readonly defaults: (Value | undefined)[],
    readonly free: Cell[],
  ) {}
}

// ---------------------------------------------------------------- dict and set (hashtable.ts)

export class Dict extends HashTable {}

export class StarSet extends HashTable {
  add(k: Value): void {
    this.set(k, k);
  }
}

// keys of dicts and sets: the values hashtable.ts does not know

function encode(v: Value): string {
  switch (typeof v) {
    case "string":
      return "s" + v.length + ":" + v;
    case "number":
    case "bigint":
      return "i" + String(v) + ";";
    case "boolean":
      return v ? "T" : "F";
    case "object":
      if (v === null) return "N";
      if (v instanceof Float) {
        const k = floatKey(v.v);
        return typeof k === "number" && !Number.isInteger(k) ? "f" + String(k) + ";" : "i" + String(k) + ";";
      }
      if (v instanceof Tuple) {
        let s = "(";
        for (const e of v.elems) s += encode(e);
        return s + ")";
      }
      if (v instanceof Bytes) return "b" + v.b.length + ":" + String.fromCharCode(...v.b);
      if (v instanceof List || v instanceof Dict || v instanceof StarSet) throw err(`unhashable type: ${typeName(v)}`);
      if (isHostValue(v)) {
        if (v.hash)
          v.hash(); // may throw: unhashable
        else throw err(`unhashable type: ${v.type()}`);
      }
      return "o" + objId(v as object) + ";";
  }
  throw err(`unhashable type: ${typeName(v)}`);
}

function floatKey(f: number): unknown {
  if (Number.isInteger(f)) return Number.isSafeInteger(f) ? (f === 0 ? 0 : f) : BigInt(f);
  return f;
}

/** The normalized key of a value other than a string, number, bool or None (hashtable.ts). */
function objectKey(k: Value): unknown {
  if (k instanceof Float) return floatKey(k.v);
  if (k instanceof Tuple || k instanceof Bytes) return new EncKey(encode(k));
  if (k instanceof List || k instanceof Dict || k instanceof StarSet) throw err(`unhashable type: ${typeName(k)}`);
  if (isHostValue(k)) {
    if (k.hash) k.hash();
    else throw err(`unhashable type: ${k.type()}`);
    return k;
  }
  if (typeof k === "object") return k;
  throw err(`unhashable type: ${typeName(k)}`);
}
setObjectKey(objectKey);

// ---------------------------------------------------------------- host values

export function isHostValue(v: unknown): v is HostValue {
  return typeof v === "object" && v !== null && typeof (v as HostValue).attr === "function" && typeof (v as HostValue).type === "function";
}

// ---------------------------------------------------------------- basic queries

export function typeName(v: Value): string {
  switch (typeof v) {
    case "string":
      return "string";
    case "number":
    case "bigint":
      return "int";
    case "boolean":
      return "bool";
    case "object":
      if (v === null) return "NoneType";
      if (v instanceof List) return "list";
      if (v instanceof Dict) return "dict";
      if (v instanceof Tuple) return "tuple";
      if (v instanceof Float) return "float";
      if (v instanceof StarSet) return "set";
      if (v instanceof StarFunction) return "function";
      if (v instanceof Builtin) return "builtin_function_or_method";
      if (v instanceof Bytes) return "bytes";
      if (v instanceof Range) return "range";
      if (isHostValue(v)) return v.type();
  }
  return "unknown";
}

export function truth(v: Value): boolean {
  switch (typeof v) {
    case "boolean":
      return v;
    case "string":
      return v.length > 0;
    case "number":
      return v !== 0;
    case "bigint":
      return v !== 0n;
    case "object":
      if (v === null) return false;
      if (v instanceof List || v instanceof Tuple) return v.elems.length > 0;
      if (v instanceof HashTable) return v.size > 0;
      if (v instanceof Float) return v.v !== 0;
      if (v instanceof Bytes) return v.b.length > 0;
      if (v instanceof Range) return v.length > 0;
      if (isHostValue(v)) return v.truth ? v.truth() : true;
  }
  return true;
}

export const isString = (v: Value): v is string => typeof v === "string";
export const isInt = (v: Value): v is number | bigint => typeof v === "number" || typeof v === "bigint";
export const isNone = (v: Value): v is null => v === null;
export const isBool = (v: Value): v is boolean => typeof v === "boolean";
export const isList = (v: Value): v is List => v instanceof List;
export const isTuple = (v: Value): v is Tuple => v instanceof Tuple;
export const isDict = (v: Value): v is Dict => v instanceof Dict;
export const isSet = (v: Value): v is StarSet => v instanceof StarSet;
export const isFloat = (v: Value): v is Float => v instanceof Float;
export const isCallable = (v: Value): v is StarFunction | Builtin => v instanceof StarFunction || v instanceof Builtin;

export function makeList(items: Value[]): List {
  return new List(items);
}
export function makeTuple(items: Value[]): Tuple {
  return new Tuple(items);
}
export function makeDict(entries: Iterable<[Value, Value]>): Dict {
  const d = new Dict();
  for (const [k, v] of entries) d.set(k, v);
  return d;
}
export function makeSet(items: Iterable<Value>): StarSet {
  const s = new StarSet();
  for (const x of items) s.add(x);
  return s;
}

export function toFloat(x: number | bigint | Float): number {
  if (x instanceof Float) return x.v;
  if (typeof x === "number") return x;
  const f = Number(x);
  if (!isFinite(f)) throw err("int too large to convert to float");
  return f;
}

// ---------------------------------------------------------------- equality and ordering

/** starlark-go's CompareLimit: == and < look at most this many containers deep. */
export const COMPARE_LIMIT = 10;

function tooDeep(): StarlarkError {
  return err("comparison exceeded maximum recursion depth");
}

export function equals(x: Value, y: Value, depth = COMPARE_LIMIT): boolean {
  if (x === y) return true;
  switch (typeof x) {
    case "string":
    case "boolean":
      return false;
    case "number":
    case "bigint":
      if (typeof y === "number" || typeof y === "bigint") return x == y; // eslint-disable-line eqeqeq
      if (y instanceof Float) return typeof x === "number" ? x === y.v : Number.isInteger(y.v) && big(x) === BigInt(y.v);
      return false;
  }
  if (x === null || y === null || typeof y !== "object") {
    if (x instanceof Float && (typeof y === "number" || typeof y === "bigint")) return equals(y, x);
    return false;
  }
  if (x instanceof Float) return y instanceof Float ? x.v === y.v || (Number.isNaN(x.v) && Number.isNaN(y.v)) : false;
  if (x instanceof List) return y instanceof List && seqEquals(x.elems, y.elems, depth);
  if (x instanceof Tuple) return y instanceof Tuple && seqEquals(x.elems, y.elems, depth);
  if (x instanceof Dict) {
    if (!(y instanceof Dict) || x.size !== y.size) return false;
    if (depth <= 1 && x.size > 0) throw tooDeep();
    for (const [k, v] of x.entries()) {
      const w = y.get(k);
      if (w === undefined || !equals(v, w, depth - 1)) return false;
    }
    return true;
  }
  if (x instanceof StarSet) {
    if (!(y instanceof StarSet) || x.size !== y.size) return false;
    for (const k of x.keys()) if (!y.has(k)) return false;
    return true;
  }
  if (x instanceof Bytes) {
    if (!(y instanceof Bytes) || x.b.length !== y.b.length) return false;
    for (let i = 0; i < x.b.length; i++) if (x.b[i] !== y.b[i]) return false;
    return true;
  }
  if (x instanceof Range) {
    if (!(y instanceof Range)) return false;
    const n = x.length;
    if (n !== y.length) return false;
    return n === 0 || (x.start === y.start && (n === 1 || x.step === y.step));
  }
  if (isHostValue(x) && x.equals) return x.equals(y);
  return false;
}

function seqEquals(a: Value[], b: Value[], depth: number): boolean {
  if (a.length !== b.length) return false;
  if (depth <= 1 && a.length > 0) throw tooDeep();
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !equals(a[i], b[i], depth - 1)) return false;
  return true;
}

/** Three-way comparison for <, <=, >, >=; throws for unordered types. */
export function compare(op: string, x: Value, y: Value, depth = COMPARE_LIMIT): number {
  const tx = typeof x,
    ty = typeof y;
  if (tx === "number" && ty === "number") return (x as number) < (y as number) ? -1 : (x as number) > (y as number) ? 1 : 0;
  if (tx === "string" && ty === "string") return (x as string) < (y as string) ? -1 : (x as string) > (y as string) ? 1 : 0;
  if ((tx === "number" || tx === "bigint" || x instanceof Float) && (ty === "number" || ty === "bigint" || y instanceof Float)) {
    if ((tx === "number" || tx === "bigint") && (ty === "number" || ty === "bigint")) {
      return (x as bigint) < (y as bigint) ? -1 : (x as bigint) > (y as bigint) ? 1 : 0;
    }
    if (tx === "bigint") return -cmpFloatInt((y as Float).v, x as bigint);
    if (ty === "bigint") return cmpFloatInt((x as Float).v, y as bigint);
    // ints held as numbers are exact (|x| < 2^53), so comparing as doubles is exact too
    const a = x instanceof Float ? x.v : (x as number);
    const b = y instanceof Float ? y.v : (y as number);
    // NaN is greater than everything else and equal to itself, as in starlark-go.
    if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
    if (Number.isNaN(b)) return -1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (tx === "boolean" && ty === "boolean") return Number(x) - Number(y);
  if (x instanceof List && y instanceof List) return seqCompare(op, x.elems, y.elems, depth);
  if (x instanceof Tuple && y instanceof Tuple) return seqCompare(op, x.elems, y.elems, depth);
  if (x instanceof Bytes && y instanceof Bytes) {
    const n = Math.min(x.b.length, y.b.length);
    for (let i = 0; i < n; i++) if (x.b[i] !== y.b[i]) return x.b[i] - y.b[i];
    return x.b.length - y.b.length;
  }
  if (x instanceof StarSet && y instanceof StarSet) {
    // subset ordering
    const sub = (a: StarSet, b: StarSet) => a.keys().every((k) => b.has(k));
    if (op === "<=") return sub(x, y) ? -1 : 1;
    if (op === ">=") return sub(y, x) ? 1 : -1;
    if (op === "<") return sub(x, y) && x.size < y.size ? -1 : 1;
    if (op === ">") return sub(y, x) && x.size > y.size ? 1 : -1;
  }
  if (x === null && y === null && false) return 0;
  throw err(`${typeName(x)} ${op} ${typeName(y)} not implemented`);
}

/** A float against a big int, exactly (not through a rounded double). */
function cmpFloatInt(f: number, i: bigint): number {
  if (Number.isNaN(f)) return 1;
  if (f === Infinity) return 1;
  if (f === -Infinity) return -1;
  const t = Math.trunc(f);
  const bt = BigInt(t);
  if (bt !== i) return bt < i ? -1 : 1;
  return f > t ? 1 : f < t ? -1 : 0;
}

function seqCompare(op: string, a: Value[], b: Value[], depth: number): number {
  const n = Math.min(a.length, b.length);
  if (depth <= 1 && n > 0) throw tooDeep();
  for (let i = 0; i < n; i++) {
    if (!equals(a[i], b[i], depth - 1)) return compare(op, a[i], b[i], depth - 1);
  }
  return a.length - b.length;
}

// ---------------------------------------------------------------- hashing (hash() builtin)

/** Java's String.hashCode: our strings are UTF-16, as Java's are. */
export function hashString(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

export function hashValue(v: Value): number {
  if (typeof v === "string") return hashString(v);
  if (typeof v === "number") return v | 0;
  if (isHostValue(v) && v.hash) return v.hash();
  return hashString(encode(v));
}

// ---------------------------------------------------------------- freezing

/** Freeze v and everything reachable from it (with a stack, so any depth works). */
export function freeze(v0: Value): void {
  const todo: Value[] = [v0];
  while (todo.length > 0) {
    const v = todo.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (v instanceof List) {
      if (v.frozen) continue;
      v.frozen = true;
      for (const e of v.elems) todo.push(e);
    } else if (v instanceof Tuple) {
      for (const e of v.elems) todo.push(e);
    } else if (v instanceof HashTable) {
      if (v.frozen) continue;
      v.frozen = true;
      for (const [k, x] of v.entries()) todo.push(k, x);
    } else if (v instanceof StarFunction) {
      if (v.frozen) continue;
      v.frozen = true;
      for (const d of v.defaults) if (d !== undefined) todo.push(d);
      for (const c of v.free) todo.push(c.v);
    } else if (isHostValue(v) && v.freeze) v.freeze();
  }
}

// ---------------------------------------------------------------- length, iteration

export function len(v: Value): number {
  if (typeof v === "string") return v.length;
  if (v instanceof List || v instanceof Tuple) return v.elems.length;
  if (v instanceof HashTable) return v.size;
  if (v instanceof Bytes) return v.b.length;
  if (v instanceof Range) return v.length;
  if (isHostValue(v) && typeof (v as unknown as { len?: () => number }).len === "function") return (v as unknown as { len: () => number }).len();
  return -1;
}

/** The elements of an iterable as a fresh array (a snapshot), or undefined if not iterable. */
export function iterValues(v: Value): Value[] | undefined {
  if (v instanceof List || v instanceof Tuple) return v.elems.slice();
  if (v instanceof HashTable) return v.keys();
  if (v instanceof Range) {
    const n = v.length,
      out = new Array<Value>(n);
    for (let i = 0; i < n; i++) out[i] = v.start + i * v.step;
    return out;
  }
  if (isHostValue(v) && typeof (v as unknown as { iterate?: () => Value[] }).iterate === "function") {
    return (v as unknown as { iterate: () => Value[] }).iterate();
  }
  return undefined;
}

export function mustIterate(v: Value, what?: string): Value[] {
  const xs = iterValues(v);
  if (xs === undefined) throw err(what ? `${what}: for parameter 1: got ${typeName(v)}, want iterable` : `${typeName(v)} value is not iterable`);
  return xs;
}

// ---------------------------------------------------------------- JS interop

export function toJS(v: Value): unknown {
  if (v === null) return null;
  switch (typeof v) {
    case "boolean":
    case "number":
    case "bigint":
    case "string":
      return v;
  }
  if (v instanceof Float) return v.v;
  if (v instanceof Bytes) return v.b;
  if (v instanceof List || v instanceof Tuple) return v.elems.map(toJS);
  if (v instanceof Dict) {
    const m = new Map<unknown, unknown>();
    for (const [k, x] of v.entries()) m.set(toJS(k), toJS(x));
    return m;
  }
  if (v instanceof StarSet) return new Set(v.keys().map(toJS));
  return v;
}

export function fromJS(x: unknown): Value {
  if (x === null || x === undefined) return null;
  switch (typeof x) {
    case "boolean":
    case "string":
      return x;
    case "number":
      return Number.isInteger(x) ? (Number.isSafeInteger(x) ? x : BigInt(x)) : new Float(x);
    case "bigint":
      return normInt(x);
    case "function":
      return new Builtin(x.name || "function", (_th, args) => fromJS((x as (...a: unknown[]) => unknown)(...args.map(toJS))));
  }
  if (x instanceof Uint8Array) return new Bytes(x);
  if (Array.isArray(x)) return new List(x.map(fromJS));
  if (x instanceof Map) return makeDict([...x].map(([k, v]) => [fromJS(k), fromJS(v)] as [Value, Value]));
  if (x instanceof Set) return makeSet([...x].map(fromJS));
  if (
    x instanceof Float ||
    x instanceof List ||
    x instanceof Tuple ||
    x instanceof HashTable ||
    x instanceof Bytes ||
    x instanceof StarFunction ||
    x instanceof Builtin ||
    x instanceof Range ||
    isHostValue(x)
  )
    return x as Value;
  if (typeof x === "object") return makeDict(Object.entries(x as object).map(([k, v]) => [k, fromJS(v)] as [Value, Value]));
  return String(x);
}
