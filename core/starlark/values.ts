// Values: the representation of every Starlark type, and the operations the spec defines
// on them (truth, equality, ordering, hashing, str/repr, arithmetic, indexing, iteration).
//
//   None → null          bool → boolean           int → number (safe integer) or bigint
//   float → Float        string → string (UTF-16)  bytes → Bytes
//   list → List          tuple → Tuple             dict → Dict       set → StarSet
//   function → StarFunction   builtin_function_or_method → Builtin   range → Range
//   host values → any object implementing HostValue (e.g. Struct)
import { StarlarkError } from "./errors.js";
import type { Thread } from "./thread.js";
import type { FunctionInfo } from "./syntax.js";

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

const identityIds = new WeakMap<object, number>();
let nextId = 1;
function objId(o: object): number {
  let id = identityIds.get(o);
  if (id === undefined) identityIds.set(o, (id = nextId++));
  return id;
}

// ---------------------------------------------------------------- hash tables

/** A token standing for a tuple or bytes key (compared by value via its encoding). */
class EncKey {
  constructor(readonly s: string) {}
}

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

/** Normalize a key so equal Starlark values give identical JS Map keys. */
function normKey(k: Value): unknown {
  switch (typeof k) {
    case "string":
    case "number":
    case "boolean":
    case "bigint":
      return k;
    case "object":
      if (k === null) return null;
      if (k instanceof Float) return floatKey(k.v);
      if (k instanceof Tuple || k instanceof Bytes) return new EncKey(encode(k));
      if (k instanceof List || k instanceof Dict || k instanceof StarSet) throw err(`unhashable type: ${typeName(k)}`);
      if (isHostValue(k)) {
        if (k.hash) k.hash();
        else throw err(`unhashable type: ${k.type()}`);
      }
      return k;
  }
  throw err(`unhashable type: ${typeName(k)}`);
}

const SMALL_MAX = 8;

/** a deleted entry of a BigTable (never equal to a key) */
const TOMB = Symbol("deleted");

/** The hash of a normalized key: strings by content (long ones sampled), others by kind. */
function keyHash(n: unknown): number {
  let h: number;
  if (typeof n === "string") {
    // every character (keys differing only in the middle, like store paths, must not collide)
    const len = n.length;
    h = 0x811c9dc5 ^ len;
    for (let i = 0; i < len; i++) h = Math.imul(h ^ n.charCodeAt(i), 0x01000193);
  } else if (typeof n === "number" && (n | 0) === n) h = n;
  else if (typeof n === "number" || typeof n === "bigint") return keyHash(String(n));
  else if (n instanceof EncKey) return keyHash(n.s);
  else if (n === null) h = 0x1234567;
  else if (typeof n === "boolean") h = n ? 0x2345 : 0x3456;
  else h = objId(n as object);
  // murmur3's finalizer: the table indexes by the low bits, which must depend on all bits
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * The large mode of HashTable: open addressing (linear probing) over an index of cached
 * hashes, entries in insertion order in two arrays (a deleted one becomes TOMB). Faster
 * than a JS Map for fresh string keys, and hashes are never recomputed on growth.
 */
class BigTable {
  private cap = 64;
  /** per slot: the entry's hash, and its index in ks/vs (-1: empty) */
  private hs = new Int32Array(64);
  private ix = new Int32Array(64).fill(-1);
  ks: unknown[] = [];
  vs: Value[] = [];
  /** each entry's hash (so growing never rehashes a key) */
  private eh: number[] = [];
  /** no live entry before this index (popitem) */
  private first = 0;
  size = 0;

  private find(n: unknown, h: number): number {
    const m = this.cap - 1,
      hs = this.hs,
      ix = this.ix,
      ks = this.ks;
    const nan = n !== n;
    for (let i = h & m; ; i = (i + 1) & m) {
      const j = ix[i];
      if (j < 0) return -1 - i;
      if (hs[i] === h) {
        const k = ks[j];
        if (k === n || (nan && k !== k && k !== TOMB)) return j;
      }
    }
  }
  get(n: unknown): Value | undefined {
    const j = this.find(n, keyHash(n));
    return j < 0 ? undefined : this.vs[j];
  }
  /** true if the key is new */
  set(n: unknown, v: Value): boolean {
    const h = keyHash(n);
    const j = this.find(n, h);
    if (j >= 0) {
      this.vs[j] = v;
      return false;
    }
    const slot = -1 - j;
    this.ix[slot] = this.ks.length;
    this.hs[slot] = h;
    this.ks.push(n);
    this.vs.push(v);
    this.eh.push(h);
    this.size++;
    if (this.ks.length * 2 > this.cap) this.rehash(this.size * 4 > this.cap ? this.cap * 2 : this.cap);
    return true;
  }
  delete(n: unknown): Value | undefined {
    const j = this.find(n, keyHash(n));
    if (j < 0) return undefined;
    const v = this.vs[j];
    this.ks[j] = TOMB;
    this.vs[j] = undefined as unknown as Value;
    this.size--;
    // mostly deleted: compact (and shrink the index), so scans stay proportional to size
    if (this.size * 4 < this.ks.length && this.ks.length > 32) {
      let cap = this.cap;
      while (cap > 64 && this.size * 8 < cap) cap >>= 1;
      this.rehash(cap);
    }
    return v;
  }
  /** the index of the first live entry (-1 if none); deleted ones before it are skipped once */
  firstIndex(): number {
    const ks = this.ks;
    let i = this.first;
    while (i < ks.length && ks[i] === TOMB) i++;
    this.first = i;
    return i < ks.length ? i : -1;
  }
  /** rebuild the index with `cap` slots, dropping deleted entries */
  private rehash(cap: number): void {
    if (this.size !== this.ks.length) {
      const oks = this.ks,
        ovs = this.vs,
        oeh = this.eh;
      const ks: unknown[] = [],
        vs: Value[] = [],
        eh: number[] = [];
      for (let j = 0; j < oks.length; j++) {
        if (oks[j] === TOMB) continue;
        ks.push(oks[j]);
        vs.push(ovs[j]);
        eh.push(oeh[j]);
      }
      this.ks = ks;
      this.vs = vs;
      this.eh = eh;
    }
    const eh = this.eh,
      n = eh.length;
    const hs = new Int32Array(cap),
      ix = new Int32Array(cap).fill(-1),
      m = cap - 1;
    for (let j = 0; j < n; j++) {
      const h = eh[j];
      let i = h & m;
      while (ix[i] >= 0) i = (i + 1) & m;
      ix[i] = j;
      hs[i] = h;
    }
    this.cap = cap;
    this.hs = hs;
    this.ix = ix;
    this.first = 0;
  }
}

/**
 * Insertion-ordered hash table. Small tables (the common case in build files: a handful
 * of string keys) are two parallel arrays searched linearly; larger ones a JS Map.
 */
export class HashTable {
  /** small mode: normalized keys and values, interleaved (one allocation) */
  private e: unknown[] | null = [];
  /** large mode */
  private m: BigTable | null = null;
  /** original keys where they differ from the normalized key */
  orig: Map<unknown, Value> | null = null;
  tokens: Map<string, EncKey> | null = null;
  /** large mode: the last string looked up and its value (cleared by every mutation) */
  private lastK: string | undefined = undefined;
  private lastV: Value | undefined = undefined;
  frozen = false;
  itercount = 0;

  private nk(k: Value, create: boolean): unknown {
    const n = normKey(k);
    if (n instanceof EncKey) {
      const t = this.tokens?.get(n.s);
      if (t) return t;
      if (!create) return undefined;
      (this.tokens ??= new Map()).set(n.s, n);
      return n;
    }
    return n;
  }
  /** index of the key in this.e, or -1 */
  private find(n: unknown): number {
    const e = this.e!;
    if (n === n) {
      for (let i = 0; i < e.length; i += 2) if (e[i] === n) return i;
    } else {
      for (let i = 0; i < e.length; i += 2) if (e[i] !== e[i]) return i; // NaN
    }
    return -1;
  }
  /** internal: an empty table takes `e` (distinct string keys and their values, interleaved) */
  adoptStrEntries(e: Value[]): this {
    if (e.length <= 2 * SMALL_MAX) this.e = e;
    else for (let i = 0; i < e.length; i += 2) this.setN(e[i], e[i + 1]);
    return this;
  }
  checkMutable(verb: string): void {
    if (this.frozen) throw err(`cannot ${verb} frozen hash table`);
    if (this.itercount > 0) throw err(`cannot ${verb} hash table during iteration`);
  }
  get size(): number {
    return this.m !== null ? this.m.size : this.e!.length >> 1;
  }
  /** lookup by a normalized key */
  private getN(n: unknown): Value | undefined {
    if (this.m !== null) return this.m.get(n);
    const i = this.find(n);
    return i < 0 ? undefined : (this.e![i + 1] as Value);
  }
  getStr(k: string): Value | undefined {
    if (this.m !== null) {
      // `if k in d: use(d[k])` looks the same (fresh) string up twice; remember the last.
      if (k === this.lastK) return this.lastV;
      const v = this.m.get(k);
      this.lastK = k;
      this.lastV = v;
      return v;
    }
    const e = this.e!;
    for (let i = 0; i < e.length; i += 2) if (e[i] === k) return e[i + 1] as Value;
    return undefined;
  }
  get(k: Value): Value | undefined {
    if (typeof k === "string") return this.getStr(k);
    const n = this.nk(k, false);
    return n === undefined ? undefined : this.getN(n);
  }
  has(k: Value): boolean {
    return this.get(k) !== undefined;
  }
  private setN(n: unknown, v: Value): boolean {
    if (this.m !== null) {
      this.lastK = undefined;
      return this.m.set(n, v);
    }
    const e = this.e!;
    const i = this.find(n);
    if (i >= 0) {
      e[i + 1] = v;
      return false;
    }
    if (e.length < 2 * SMALL_MAX) {
      e.push(n, v);
      return true;
    }
    const m = new BigTable();
    for (let j = 0; j < e.length; j += 2) m.set(e[j], e[j + 1] as Value);
    m.set(n, v);
    this.m = m;
    this.e = null;
    return true;
  }
  set(k: Value, v: Value): void {
    if (this.frozen || this.itercount > 0) this.checkMutable("insert into");
    if (typeof k === "string") {
      this.setN(k, v);
      return;
    }
    const n = this.nk(k, true);
    if (this.setN(n, v) && n !== k) (this.orig ??= new Map()).set(n, k);
  }
  delete(k: Value): Value | undefined {
    this.checkMutable("delete from");
    const n = typeof k === "string" ? k : this.nk(k, false);
    if (n === undefined) return undefined;
    let v: Value | undefined;
    if (this.m !== null) {
      this.lastK = undefined;
      v = this.m.delete(n);
      if (v === undefined) return undefined;
    } else {
      const i = this.find(n);
      if (i < 0) return undefined;
      v = this.e![i + 1] as Value;
      this.e!.splice(i, 2);
    }
    if (this.orig) this.orig.delete(n);
    if (n instanceof EncKey) this.tokens!.delete(n.s);
    return v;
  }
  clear(): void {
    this.checkMutable("clear");
    this.lastK = undefined;
    this.m = null;
    this.e = [];
    this.orig = null;
    this.tokens = null;
  }
  keyOf(n: unknown): Value {
    if (this.orig !== null) {
      const o = this.orig.get(n);
      if (o !== undefined) return o;
    }
    return n as Value;
  }
  /** the first key in insertion order (undefined if empty) */
  firstKey(): Value | undefined {
    if (this.m !== null) {
      const i = this.m.firstIndex();
      return i < 0 ? undefined : this.keyOf(this.m.ks[i] as Value);
    }
    return this.e!.length === 0 ? undefined : this.keyOf(this.e![0]);
  }
  keys(): Value[] {
    let raw: unknown[];
    if (this.m !== null) raw = this.m.size === this.m.ks.length ? this.m.ks.slice() : this.m.ks.filter((k) => k !== TOMB);
    else {
      const e = this.e!;
      raw = new Array(e.length >> 1);
      for (let i = 0; i < e.length; i += 2) raw[i >> 1] = e[i];
    }
    if (this.orig !== null) for (let i = 0; i < raw.length; i++) raw[i] = this.keyOf(raw[i]);
    return raw as Value[];
  }
  values(): Value[] {
    if (this.m !== null) {
      const ks = this.m.ks,
        vs = this.m.vs;
      if (this.m.size === ks.length) return vs.slice();
      return vs.filter((_v, i) => ks[i] !== TOMB);
    }
    const e = this.e!,
      out = new Array<Value>(e.length >> 1);
    for (let i = 1; i < e.length; i += 2) out[i >> 1] = e[i] as Value;
    return out;
  }
  entries(): [Value, Value][] {
    const out: [Value, Value][] = [];
    if (this.m !== null) {
      const ks = this.m.ks,
        vs = this.m.vs;
      for (let i = 0; i < ks.length; i++) if (ks[i] !== TOMB) out.push([this.keyOf(ks[i] as Value), vs[i]]);
    } else for (let i = 0; i < this.e!.length; i += 2) out.push([this.keyOf(this.e![i]), this.e![i + 1] as Value]);
    return out;
  }
  /** items() as tuples, without intermediate pairs */
  itemTuples(): Tuple[] {
    const out: Tuple[] = [];
    if (this.m !== null) {
      const ks = this.m.ks,
        vs = this.m.vs;
      for (let i = 0; i < ks.length; i++) if (ks[i] !== TOMB) out.push(new Tuple([this.keyOf(ks[i] as Value), vs[i]]));
    } else for (let i = 0; i < this.e!.length; i += 2) out.push(new Tuple([this.keyOf(this.e![i]), this.e![i + 1] as Value]));
    return out;
  }
}

export class Dict extends HashTable {}

export class StarSet extends HashTable {
  add(k: Value): void {
    this.set(k, k);
  }
}

// ---------------------------------------------------------------- host values

export function isHostValue(v: unknown): v is HostValue {
  return typeof v === "object" && v !== null && typeof (v as HostValue).attr === "function" && typeof (v as HostValue).type === "function";
}

/** A simple frozen value with named attributes (for modules like json, math, sys). */
export class Struct implements HostValue {
  private attrs: Map<string, Value>;
  constructor(
    readonly typeName: string,
    attrs: Record<string, Value> | Map<string, Value>,
  ) {
    this.attrs = attrs instanceof Map ? new Map(attrs) : new Map(Object.entries(attrs));
  }
  type(): string {
    return this.typeName;
  }
  str(): string {
    return this.repr();
  }
  repr(): string {
    const parts: string[] = [];
    for (const [k, v] of this.attrs) parts.push(`${k} = ${repr(v)}`);
    return `${this.typeName}(${parts.join(", ")})`;
  }
  attr(name: string): Value | undefined {
    return this.attrs.get(name);
  }
  attrNames(): string[] {
    return [...this.attrs.keys()].sort();
  }
  truth(): boolean {
    return true;
  }
  hash(): number {
    let h = 0;
    for (const [k, v] of this.attrs) h = (h * 31 + hashString(k) + hashValue(v)) | 0;
    return h;
  }
  freeze(): void {
    for (const v of this.attrs.values()) freeze(v);
  }
  equals(other: Value): boolean {
    if (!(other instanceof Struct) || other.typeName !== this.typeName || other.attrs.size !== this.attrs.size) return false;
    for (const [k, v] of this.attrs) {
      const w = other.attrs.get(k);
      if (w === undefined || !equals(v, w)) return false;
    }
    return true;
  }
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

// ---------------------------------------------------------------- ints

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

export function normInt(b: bigint): number | bigint {
  return b >= MIN_SAFE && b <= MAX_SAFE ? Number(b) : b;
}
export function big(x: number | bigint): bigint {
  return typeof x === "bigint" ? x : BigInt(x);
}

export function intAdd(x: number | bigint, y: number | bigint): number | bigint {
  if (typeof x === "number" && typeof y === "number") {
    const z = x + y;
    if (Number.isSafeInteger(z)) return z;
  }
  return normInt(big(x) + big(y));
}
export function intSub(x: number | bigint, y: number | bigint): number | bigint {
  if (typeof x === "number" && typeof y === "number") {
    const z = x - y;
    if (Number.isSafeInteger(z)) return z;
  }
  return normInt(big(x) - big(y));
}
export function intMul(x: number | bigint, y: number | bigint): number | bigint {
  if (typeof x === "number" && typeof y === "number") {
    const z = x * y;
    if (Number.isSafeInteger(z)) return z === 0 ? 0 : z;
  }
  return normInt(big(x) * big(y));
}
export function intFloorDiv(x: number | bigint, y: number | bigint): number | bigint {
  if (y === 0 || y === 0n) throw err("floored division by zero");
  if (typeof x === "number" && typeof y === "number") {
    const q = Math.floor(x / y);
    // exact for safe integers unless rounding in x / y crossed an integer boundary
    const r = x - q * y;
    if (Number.isSafeInteger(q) && (y > 0 ? r >= 0 && r < y : r <= 0 && r > y)) return q === 0 ? 0 : q;
  }
  const a = big(x),
    b = big(y);
  let q = a / b;
  if (a % b !== 0n && a < 0n !== b < 0n) q -= 1n;
  return normInt(q);
}
export function intMod(x: number | bigint, y: number | bigint): number | bigint {
  if (y === 0 || y === 0n) throw err("integer modulo by zero");
  if (typeof x === "number" && typeof y === "number") {
    let r = x % y;
    if (r !== 0 && r < 0 !== y < 0) r += y;
    return r === 0 ? 0 : r;
  }
  const b = big(y);
  let r = big(x) % b;
  if (r !== 0n && r < 0n !== b < 0n) r += b;
  return normInt(r);
}
function isInt32(x: number | bigint): x is number {
  return typeof x === "number" && (x | 0) === x;
}
export function intBitwise(op: string, x: number | bigint, y: number | bigint): number | bigint {
  if (isInt32(x) && isInt32(y)) {
    switch (op) {
      case "&":
        return x & y;
      case "|":
        return x | y;
      case "^":
        return x ^ y;
    }
  }
  const a = big(x),
    b = big(y);
  switch (op) {
    case "&":
      return normInt(a & b);
    case "|":
      return normInt(a | b);
    case "^":
      return normInt(a ^ b);
    case "<<": {
      if (b < 0n) throw err(`negative shift count: ${y}`);
      if (b >= 512n) throw err(`shift count too large: ${y}`);
      return normInt(a << b);
    }
    case ">>": {
      if (b < 0n) throw err(`negative shift count: ${y}`);
      if (b >= 512n) return a < 0n ? -1 : 0;
      return normInt(a >> b);
    }
  }
  throw err(`unknown operator ${op}`);
}

export function toFloat(x: number | bigint | Float): number {
  if (x instanceof Float) return x.v;
  if (typeof x === "number") return x;
  const f = Number(x);
  if (!isFinite(f)) throw err("int too large to convert to float");
  return f;
}

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
export function decodeUTF8(b: Uint8Array): string {
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
