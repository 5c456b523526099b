// Methods of list, dict and set.
import { StarlarkError } from "./errors.js";
import type { Method } from "./string.js";
import { positional, unpackArgs } from "./unpack.js";
import { Dict, List, StarSet, Tuple, Value, equals, err, iterValues, mustIterate, typeName, HashTable } from "./values.js";
import { repr } from "./repr.js";

function listIndex(name: string, l: List, v: Value, allowEnd: boolean): number {
  if (typeof v !== "number") throw err(`${name}: got ${typeName(v)}, want int`);
  const n = l.elems.length;
  const i = v < 0 ? v + n : v;
  if (allowEnd) return Math.max(0, Math.min(n, i));
  if (i < 0 || i >= n) throw err(n === 0 ? `${name}: index ${v} out of range: empty list` : `${name}: list index ${v} out of range [${-n}:${n - 1}]`);
  return i;
}

export const listMethods: Record<string, Method> = {
  append(_th, l: List, args, kw) {
    positional("append", args, kw, 1, 1);
    if (l.frozen || l.itercount > 0) l.checkMutable("append to");
    l.elems.push(args[0]);
    return null;
  },
  clear(_th, l: List, args, kw) {
    positional("clear", args, kw, 0, 0);
    l.checkMutable("clear");
    l.elems.length = 0;
    return null;
  },
  extend(_th, l: List, args, kw) {
    positional("extend", args, kw, 1, 1);
    l.checkMutable("extend");
    const xs = mustIterate(args[0], "extend");
    for (const x of xs) l.elems.push(x);
    return null;
  },
  index(_th, l: List, args, kw) {
    positional("index", args, kw, 1, 3);
    const n = l.elems.length;
    const clamp = (v: Value | undefined, d: number) => {
      if (v === undefined || v === null) return d;
      if (typeof v !== "number") throw err(`index: got ${typeName(v)}, want int`);
      return Math.max(0, Math.min(n, v < 0 ? v + n : v));
    };
    const a = clamp(args[1], 0),
      b = clamp(args[2], n);
    for (let i = a; i < b; i++) if (equals(l.elems[i], args[0])) return i;
    throw err(`index: value not in list`);
  },
  insert(_th, l: List, args, kw) {
    positional("insert", args, kw, 2, 2);
    l.checkMutable("insert into");
    const i = listIndex("insert", l, args[0], true);
    l.elems.splice(i, 0, args[1]);
    return null;
  },
  pop(_th, l: List, args, kw) {
    positional("pop", args, kw, 0, 1);
    l.checkMutable("pop from");
    if (l.elems.length === 0 && args.length === 0) throw err("pop: index -1 out of range: empty list");
    const i = args.length === 0 ? l.elems.length - 1 : listIndex("pop", l, args[0], false);
    return l.elems.splice(i, 1)[0];
  },
  remove(_th, l: List, args, kw) {
    positional("remove", args, kw, 1, 1);
    l.checkMutable("remove from");
    for (let i = 0; i < l.elems.length; i++) {
      if (equals(l.elems[i], args[0])) {
        l.elems.splice(i, 1);
        return null;
      }
    }
    throw err(`remove: element not found`);
  },
};

export function dictUpdate(name: string, d: HashTable, args: Value[], kw: [string, Value][]): void {
  if (args.length > 1) throw err(`${name}: got ${args.length} arguments, want at most 1`);
  if (args.length === 1) {
    const x = args[0];
    if (x instanceof Dict) for (const [k, v] of x.entries()) d.set(k, v);
    else {
      const items = iterValues(x);
      if (items === undefined) throw err(`${name}: got ${typeName(x)}, want iterable`);
      items.forEach((item, i) => {
        // any iterable of length 2, as starlark-go (a string is not iterable)
        const pair = item instanceof Tuple || item instanceof List ? item.elems : iterValues(item);
        if (!pair) throw err(`${name}: dictionary update sequence element #${i} is not iterable (${typeName(item)})`);
        if (pair.length !== 2) throw err(`${name}: dictionary update sequence element #${i} has length ${pair.length}, want 2`);
        d.set(pair[0], pair[1]);
      });
    }
  }
  for (const [k, v] of kw) d.set(k, v);
}

export const dictMethods: Record<string, Method> = {
  clear(_th, d: Dict, args, kw) {
    positional("clear", args, kw, 0, 0);
    d.clear();
    return null;
  },
  get(_th, d: Dict, args, kw) {
    positional("get", args, kw, 1, 2);
    const v = d.get(args[0]);
    return v !== undefined ? v : args.length > 1 ? args[1] : null;
  },
  items(_th, d: Dict, args, kw) {
    positional("items", args, kw, 0, 0);
    return new List(d.itemPairs((k, v) => new Tuple([k, v])));
  },
  keys(_th, d: Dict, args, kw) {
    positional("keys", args, kw, 0, 0);
    return new List(d.keys());
  },
  values(_th, d: Dict, args, kw) {
    positional("values", args, kw, 0, 0);
    return new List(d.values());
  },
  pop(_th, d: Dict, args, kw) {
    positional("pop", args, kw, 1, 2);
    d.checkMutable("delete from");
    const v = d.delete(args[0]);
    if (v !== undefined) return v;
    if (args.length > 1) return args[1];
    throw err(`pop: missing key ${repr(args[0])}`);
  },
  popitem(_th, d: Dict, args, kw) {
    positional("popitem", args, kw, 0, 0);
    d.checkMutable("delete from");
    const k = d.firstKey();
    if (k === undefined) throw err("popitem: empty dict");
    const v = d.delete(k)!;
    return new Tuple([k, v]);
  },
  setdefault(_th, d: Dict, args, kw) {
    positional("setdefault", args, kw, 1, 2);
    const v = d.get(args[0]);
    if (v !== undefined) return v;
    const dflt = args.length > 1 ? args[1] : null;
    d.set(args[0], dflt);
    return dflt;
  },
  update(_th, d: Dict, args, kw) {
    d.checkMutable("insert into");
    dictUpdate("update", d, args, kw);
    return null;
  },
};

function setArg(name: string, v: Value): StarSet {
  if (v instanceof StarSet) return v;
  const s = new StarSet();
  for (const x of mustIterate(v, name)) s.add(x);
  return s;
}

export function setUnion(a: StarSet, b: Iterable<Value>): StarSet {
  const s = new StarSet();
  for (const k of a.keys()) s.add(k);
  for (const k of b) s.add(k);
  return s;
}
export function setIntersection(a: StarSet, b: StarSet): StarSet {
  const s = new StarSet();
  for (const k of a.keys()) if (b.has(k)) s.add(k);
  return s;
}
export function setDifference(a: StarSet, b: StarSet): StarSet {
  const s = new StarSet();
  for (const k of a.keys()) if (!b.has(k)) s.add(k);
  return s;
}
export function setSymDiff(a: StarSet, b: StarSet): StarSet {
  const s = new StarSet();
  for (const k of a.keys()) if (!b.has(k)) s.add(k);
  for (const k of b.keys()) if (!a.has(k)) s.add(k);
  return s;
}

export const setMethods: Record<string, Method> = {
  add(_th, s: StarSet, args, kw) {
    positional("add", args, kw, 1, 1);
    s.checkMutable("insert into"); // even when the element is present, as starlark-go
    if (s.has(args[0])) return null;
    s.add(args[0]);
    return null;
  },
  clear(_th, s: StarSet, args, kw) {
    positional("clear", args, kw, 0, 0);
    if (s.size > 0) s.clear(); // starlark-go clears (and checks) only a non-empty set
    return null;
  },
  difference(_th, s: StarSet, args, kw) {
    positional("difference", args, kw, 0, Infinity);
    let r = setUnion(s, []);
    for (const a of args) r = setDifference(r, setArg("difference", a));
    return r;
  },
  discard(_th, s: StarSet, args, kw) {
    positional("discard", args, kw, 1, 1);
    s.checkMutable("delete from"); // even when the element is absent, as starlark-go
    if (s.has(args[0])) s.delete(args[0]);
    return null;
  },
  intersection(_th, s: StarSet, args, kw) {
    positional("intersection", args, kw, 0, Infinity);
    let r = setUnion(s, []);
    for (const a of args) r = setIntersection(r, setArg("intersection", a));
    return r;
  },
  issubset(_th, s: StarSet, args, kw) {
    positional("issubset", args, kw, 1, 1);
    const o = setArg("issubset", args[0]);
    return s.keys().every((k) => o.has(k));
  },
  issuperset(_th, s: StarSet, args, kw) {
    positional("issuperset", args, kw, 1, 1);
    const o = setArg("issuperset", args[0]);
    return o.keys().every((k) => s.has(k));
  },
  isdisjoint(_th, s: StarSet, args, kw) {
    positional("isdisjoint", args, kw, 1, 1);
    const o = setArg("isdisjoint", args[0]);
    return !o.keys().some((k) => s.has(k));
  },
  pop(_th, s: StarSet, args, kw) {
    positional("pop", args, kw, 0, 0);
    const k = s.firstKey();
    if (k === undefined) throw err("pop: empty set");
    s.checkMutable("delete from");
    s.delete(k);
    return k;
  },
  remove(_th, s: StarSet, args, kw) {
    positional("remove", args, kw, 1, 1);
    s.checkMutable("delete from");
    if (s.delete(args[0]) === undefined) throw err(`remove: missing key ${repr(args[0])}`);
    return null;
  },
  symmetric_difference(_th, s: StarSet, args, kw) {
    positional("symmetric_difference", args, kw, 1, 1);
    // as starlark-go: each element of the iterable toggles membership (so a repeated one cancels)
    const xs = iterValues(args[0]);
    if (xs === undefined) throw err(`symmetric_difference: for parameter 1: got ${typeName(args[0])}, want iterable`);
    const r = setUnion(s, []);
    for (const x of xs) {
      if (r.has(x)) r.delete(x);
      else r.add(x);
    }
    return r;
  },
  union(_th, s: StarSet, args, kw) {
    positional("union", args, kw, 0, Infinity);
    let r = setUnion(s, []);
    for (const a of args) r = setUnion(r, mustIterate(a, "union"));
    return r;
  },
  update(_th, s: StarSet, args, kw) {
    positional("update", args, kw, 0, Infinity);
    s.checkMutable("insert into");
    for (const a of args) for (const k of mustIterate(a, "update")) s.add(k);
    return null;
  },
};

export { unpackArgs };

/**
 * starlark-go prefixes a method's "cannot mutate" and "unhashable" errors with the method's
 * name ("append: cannot append to frozen list", "get: unhashable type: list"), except
 * dict.clear's.
 */
function prefixMutationErrors(table: Record<string, Method>, except: string[] = []): void {
  for (const name of Object.keys(table)) {
    if (except.includes(name)) continue;
    const m = table[name];
    table[name] = (th, recv, args, kw) => {
      try {
        return m(th, recv, args, kw);
      } catch (e) {
        if (e instanceof StarlarkError && (e.msg.startsWith("cannot ") || e.msg.startsWith("unhashable")) && !e.located) e.setMsg(`${name}: ${e.msg}`);
        throw e;
      }
    };
  }
}
prefixMutationErrors(listMethods);
prefixMutationErrors(dictMethods, ["clear"]);
prefixMutationErrors(setMethods);
