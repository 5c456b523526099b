// `bramble why-depends A B`, as `nix why-depends` answers it: the references from A's output
// to B's, as a tree. By default one shortest chain; with `all`, every path that leads to B (each
// node expanded once). With `precise`, each edge names the files of the referrer that hold the
// referenced path's hash, and the bytes around each occurrence.
import { lstatSync, openSync, closeSync, readSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { hashPart } from "./layout.js";

interface WhyHit {
  /** the file inside the referrer, relative to its store path ("" for the path itself) */
  file: string;
  /** the bytes around the reference, non-printable ones as '.', the hash in the middle */
  context: string;
}

export interface WhyNode {
  /** a store name */
  name: string;
  /** where the parent refers to this node (precise only) */
  hits?: WhyHit[];
  children: WhyNode[];
}

interface WhyStore {
  references(name: string): string[];
  /** the store path of a name */
  path(name: string): string;
}

/** The nodes from which `to` is reachable (itself included). */
function reaching(store: WhyStore, from: string, to: string): Set<string> {
  const order: string[] = [];
  const seen = new Set<string>([from]);
  const stack = [from];
  while (stack.length) {
    const n = stack.pop()!;
    order.push(n);
    for (const r of store.references(n)) {
      if (!seen.has(r)) {
        seen.add(r);
        stack.push(r);
      }
    }
  }
  // Reverse edges among what `from` reaches, then walk back from `to`.
  const referrers = new Map<string, string[]>();
  for (const n of order) for (const r of store.references(n)) if (r !== n) referrers.set(r, [...(referrers.get(r) ?? []), n]);
  const out = new Set<string>();
  if (!seen.has(to)) return out;
  const back = [to];
  out.add(to);
  while (back.length) {
    for (const p of referrers.get(back.pop()!) ?? []) {
      if (out.has(p)) continue;
      out.add(p);
      back.push(p);
    }
  }
  return out;
}

/** References in the order they are shown: by the name after the hash, then by hash. */
function sortedRefs(store: WhyStore, name: string): string[] {
  const key = (n: string) => `${n.slice(n.indexOf("-") + 1)}\0${n}`;
  return store
    .references(name)
    .slice()
    .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** One shortest chain from `from` to `to` (breadth first), or undefined. */
function shortestChain(store: WhyStore, from: string, to: string): string[] | undefined {
  const prev = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  while (queue.length) {
    const n = queue.shift()!;
    if (n === to) {
      const chain: string[] = [];
      for (let c: string | null = n; c !== null; c = prev.get(c) ?? null) chain.unshift(c);
      return chain;
    }
    for (const r of sortedRefs(store, n)) {
      if (!prev.has(r)) {
        prev.set(r, n);
        queue.push(r);
      }
    }
  }
  return undefined;
}

/** The tree of references from `from` to `to`, or undefined when `from` does not depend on `to`. */
export function whyDepends(store: WhyStore, from: string, to: string, opts: { all?: boolean; precise?: boolean } = {}): WhyNode | undefined {
  const hitsOf = (parent: string, child: string) => (opts.precise ? findHits(store.path(parent), hashPart(child)) : undefined);
  if (!opts.all) {
    const chain = shortestChain(store, from, to);
    if (!chain) return undefined;
    const root: WhyNode = { name: chain[0]!, children: [] };
    let at = root;
    for (let i = 1; i < chain.length; i++) {
      const next: WhyNode = { name: chain[i]!, children: [] };
      const hits = hitsOf(chain[i - 1]!, chain[i]!);
      if (hits) next.hits = hits;
      at.children.push(next);
      at = next;
    }
    return root;
  }
  const useful = reaching(store, from, to);
  if (!useful.has(from)) return undefined;
  const expanded = new Set<string>();
  const build = (name: string): WhyNode => {
    const node: WhyNode = { name, children: [] };
    if (expanded.has(name) || name === to) return node;
    expanded.add(name);
    for (const r of sortedRefs(store, name)) {
      if (r === name || !useful.has(r)) continue;
      const child = build(r);
      const hits = hitsOf(name, r);
      if (hits) child.hits = hits;
      node.children.push(child);
    }
    return node;
  };
  return build(from);
}

const CONTEXT = 32;

/** Every file (and symlink) under `dir` that holds `needle`, with the bytes around its first occurrence. */
function findHits(dir: string, needle: string): WhyHit[] {
  const hits: WhyHit[] = [];
  const visit = (abs: string, rel: string) => {
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) {
      const target = readlinkSync(abs);
      const at = target.indexOf(needle);
      if (at >= 0) hits.push({ file: rel, context: `-> ${around(Buffer.from(target), at, needle.length)}` });
    } else if (st.isDirectory()) {
      for (const e of readdirSync(abs).sort()) visit(join(abs, e), rel ? `${rel}/${e}` : e);
    } else if (st.isFile()) {
      const at = indexInFile(abs, needle);
      if (at) hits.push({ file: rel, context: around(at.buf, at.index, needle.length) });
    }
  };
  visit(dir, "");
  return hits;
}

/** The first occurrence of `needle` in a file, read in chunks (outputs can be large), with the chunk around it. */
function indexInFile(file: string, needle: string): { buf: Buffer; index: number } | undefined {
  const fd = openSync(file, "r");
  try {
    const chunk = 1 << 20;
    const overlap = needle.length + CONTEXT;
    let carry = Buffer.alloc(0);
    const buf = Buffer.alloc(chunk);
    for (;;) {
      const n = readSync(fd, buf, 0, chunk, null);
      if (n <= 0) return undefined;
      const data = Buffer.concat([carry, buf.subarray(0, n)]);
      const index = data.indexOf(needle, 0, "latin1");
      if (index >= 0) {
        // enough after it for the context
        const more = Buffer.alloc(CONTEXT);
        const m = readSync(fd, more, 0, CONTEXT, null);
        return { buf: Buffer.concat([data, more.subarray(0, Math.max(0, m))]), index };
      }
      carry = data.subarray(Math.max(0, data.length - overlap));
    }
  } finally {
    closeSync(fd);
  }
}

/** `…<up to 32 bytes>hash<up to 32 bytes>…`, non-printable bytes as '.'. */
function around(buf: Buffer, index: number, len: number): string {
  const start = Math.max(0, index - CONTEXT);
  const end = Math.min(buf.length, index + len + CONTEXT);
  let s = "";
  for (const b of buf.subarray(start, end)) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".";
  return `${start > 0 ? "…" : ""}${s}${end < buf.length ? "…" : ""}`;
}
