// The hash table under dict and set: insertion ordered; a few entries are an array searched
// linearly, more an open-addressing table (BigTable). Keys are normalized so that equal
// Starlark values are identical JavaScript keys: strings, numbers, booleans and None are
// themselves; any other value goes through the function values.ts installs with
// setObjectKey (a float's number, a tuple's encoding, an error for an unhashable value).
// So this module imports no value type: values.ts defines Dict and StarSet on HashTable,
// and importing it back would be a cycle.
import { StarlarkError } from "./errors.js";
import type { Value } from "./values.js";

const err = (msg: string) => new StarlarkError(msg);

/** A token standing for a tuple or bytes key (compared by value via its encoding). */
export class EncKey {
  constructor(readonly s: string) {}
}

let objectKey: (k: Value) => unknown = () => {
  throw err("internal error: no key codec (values.ts installs it)");
};

/** values.ts: the normalized key of a value that is not a string, number, bool or None. */
export function setObjectKey(f: (k: Value) => unknown): void {
  objectKey = f;
}

/** Normalize a key so equal Starlark values give identical JS keys. */
function normKey(k: Value): unknown {
  switch (typeof k) {
    case "string":
    case "number":
    case "boolean":
    case "bigint":
      return k;
  }
  return k === null ? null : objectKey(k);
}

const identityIds = new WeakMap<object, number>();
let nextId = 1;
/** A number per object, by identity (the hash of a key compared by identity). */
export function objId(o: object): number {
  let id = identityIds.get(o);
  if (id === undefined) identityIds.set(o, (id = nextId++));
  return id;
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
  /** make(key, value) of each entry in order (items() makes tuples), without intermediate pairs */
  itemPairs<T>(make: (k: Value, v: Value) => T): T[] {
    const out: T[] = [];
    if (this.m !== null) {
      const ks = this.m.ks,
        vs = this.m.vs;
      for (let i = 0; i < ks.length; i++) if (ks[i] !== TOMB) out.push(make(this.keyOf(ks[i] as Value), vs[i]));
    } else for (let i = 0; i < this.e!.length; i += 2) out.push(make(this.keyOf(this.e![i]), this.e![i + 1] as Value));
    return out;
  }
}
