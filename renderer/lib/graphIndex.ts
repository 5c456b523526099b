// Lookups over one graph: nodes by hash, dependencies and dependents, transitive closures.
import type { Graph, GraphNode } from "../../core/api/schema";

export interface GraphIndex {
  byHash: Map<string, GraphNode>;
  deps: Map<string, string[]>;
  dependents: Map<string, string[]>;
}

const cache = new WeakMap<Graph, GraphIndex>();

export function indexGraph(g: Graph): GraphIndex {
  let ix = cache.get(g);
  if (ix) return ix;
  ix = { byHash: new Map(), deps: new Map(), dependents: new Map() };
  for (const n of g.nodes) {
    ix.byHash.set(n.hash, n);
    ix.deps.set(n.hash, []);
    ix.dependents.set(n.hash, []);
  }
  for (const e of g.edges) {
    ix.deps.get(e.to)?.push(e.from);
    ix.dependents.get(e.from)?.push(e.to);
  }
  cache.set(g, ix);
  return ix;
}

/** Why `from` depends on `to`: the nodes on any path between them (both ends included) and how many paths there are. */
export function whyDepends(ix: GraphIndex, from: string, to: string): { nodes: Set<string>; paths: number } {
  const down = reach(from, ix.deps);
  down.add(from);
  const up = reach(to, ix.dependents);
  up.add(to);
  const nodes = new Set([...down].filter((h) => up.has(h)));
  if (!nodes.has(from) || !nodes.has(to)) return { nodes: new Set(), paths: 0 };
  const memo = new Map<string, number>();
  const count = (h: string): number => {
    if (h === to) return 1;
    const known = memo.get(h);
    if (known !== undefined) return known;
    let n = 0;
    for (const d of ix.deps.get(h) ?? []) if (nodes.has(d)) n += count(d);
    memo.set(h, n);
    return n;
  };
  return { nodes, paths: count(from) };
}

/** Every node reachable from `start` along `next` (not including `start`). */
export function reach(start: string, next: Map<string, string[]>): Set<string> {
  const seen = new Set<string>();
  const stack = [...(next.get(start) ?? [])];
  while (stack.length) {
    const h = stack.pop()!;
    if (seen.has(h)) continue;
    seen.add(h);
    for (const n of next.get(h) ?? []) stack.push(n);
  }
  return seen;
}
