// Layered layout of the derivation graph: elkjs's layered algorithm for graphs of
// ordinary size, and a linear-time longest-path layering for very large ones, where
// elk would take many seconds.
import type { Graph } from "../../core/api/schema";

export const NODE_WIDTH = 240;
export const NODE_HEIGHT = 78;
const ELK_LIMIT = 800;

export type Positions = Map<string, { x: number; y: number }>;

type Elk = InstanceType<typeof import("elkjs/lib/elk.bundled.js").default>;
let elk: Elk | null = null;

export async function layoutGraph(graph: Graph): Promise<Positions> {
  if (graph.nodes.length > ELK_LIMIT) return layeredFast(graph);
  // elk is large: load it (a separate chunk) only when a graph needs laying out.
  if (!elk) {
    const { default: ELK } = await import("elkjs/lib/elk.bundled.js");
    elk = new ELK();
  }
  const known = new Set(graph.nodes.map((n) => n.hash));
  const result = await elk.layout({
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.layered.spacing.nodeNodeBetweenLayers": "70",
      "elk.spacing.nodeNode": "28",
      "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
    },
    children: graph.nodes.map((n) => ({ id: n.hash, width: NODE_WIDTH, height: NODE_HEIGHT })),
    edges: graph.edges.filter((e) => known.has(e.from) && known.has(e.to)).map((e, i) => ({ id: `e${i}`, sources: [e.from], targets: [e.to] })),
  });
  const pos: Positions = new Map();
  for (const c of result.children ?? []) pos.set(c.id, { x: c.x ?? 0, y: c.y ?? 0 });
  return pos;
}

/** Columns by longest path from the leaves (dependencies left of dependents). */
export function layeredFast(graph: Graph): Positions {
  const deps = new Map<string, string[]>();
  for (const n of graph.nodes) deps.set(n.hash, []);
  for (const e of graph.edges) deps.get(e.to)?.push(e.from);
  const rank = new Map<string, number>();
  // Iterative DFS so deep chains do not overflow the stack.
  for (const n of graph.nodes) {
    if (rank.has(n.hash)) continue;
    const stack: { h: string; i: number }[] = [{ h: n.hash, i: 0 }];
    const onStack = new Set([n.hash]);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const ds = deps.get(top.h) ?? [];
      if (top.i < ds.length) {
        const d = ds[top.i++]!;
        if (!rank.has(d) && !onStack.has(d) && deps.has(d)) {
          onStack.add(d);
          stack.push({ h: d, i: 0 });
        }
      } else {
        let r = 0;
        for (const d of ds) r = Math.max(r, (rank.get(d) ?? -1) + 1);
        rank.set(top.h, r);
        onStack.delete(top.h);
        stack.pop();
      }
    }
  }
  const rows = new Map<number, number>();
  const pos: Positions = new Map();
  for (const n of graph.nodes) {
    const r = rank.get(n.hash) ?? 0;
    const row = rows.get(r) ?? 0;
    rows.set(r, row + 1);
    pos.set(n.hash, { x: r * (NODE_WIDTH + 70), y: row * (NODE_HEIGHT + 24) });
  }
  return pos;
}
