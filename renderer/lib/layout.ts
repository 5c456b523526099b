// Layered layout of the derivation graph: elkjs's layered algorithm for graphs of
// ordinary size, and a linear-time longest-path layering for very large ones, where
// elk would take many seconds.

/** What a layout needs: node ids (derivation hashes, or cluster ids) and dependency → dependent edges. */
export interface Layoutable {
  nodes: { id: string }[];
  edges: { from: string; to: string }[];
}

export const NODE_WIDTH = 240;
export const NODE_HEIGHT = 78;
const ELK_LIMIT = 800;
/**
 * Above this many nodes elk places them by network simplex, not Brandes-Köpf: BK straightens edges by
 * spreading a layer apart (a generated 15 × 20 graph of one module: 6,556 px tall, against 2,076),
 * which at Fit makes every node and name three times smaller.
 */
const COMPACT_ABOVE = 100;

export type Positions = Map<string, { x: number; y: number }>;

type Elk = InstanceType<typeof import("elkjs/lib/elk.bundled.js").default>;
let elk: Elk | null = null;

export async function layoutGraph(graph: Layoutable): Promise<Positions> {
  if (graph.nodes.length > ELK_LIMIT) return layeredFast(graph);
  // elk is large: load it (a separate chunk) only when a graph needs laying out.
  if (!elk) {
    const { default: ELK } = await import("elkjs/lib/elk.bundled.js");
    elk = new ELK();
  }
  const known = new Set(graph.nodes.map((n) => n.id));
  const result = await elk.layout({
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.layered.spacing.nodeNodeBetweenLayers": "70",
      "elk.spacing.nodeNode": "28",
      "elk.layered.nodePlacement.strategy": graph.nodes.length > COMPACT_ABOVE ? "NETWORK_SIMPLEX" : "BRANDES_KOEPF",
    },
    children: graph.nodes.map((n) => ({ id: n.id, width: NODE_WIDTH, height: NODE_HEIGHT })),
    edges: graph.edges.filter((e) => known.has(e.from) && known.has(e.to)).map((e, i) => ({ id: `e${i}`, sources: [e.from], targets: [e.to] })),
  });
  const pos: Positions = new Map();
  for (const c of result.children ?? []) pos.set(c.id, { x: c.x ?? 0, y: c.y ?? 0 });
  return pos;
}

/** Columns by longest path from the leaves (dependencies left of dependents). */
export function layeredFast(graph: Layoutable): Positions {
  const deps = new Map<string, string[]>();
  for (const n of graph.nodes) deps.set(n.id, []);
  for (const e of graph.edges) deps.get(e.to)?.push(e.from);
  const rank = new Map<string, number>();
  // Iterative DFS so deep chains do not overflow the stack.
  for (const n of graph.nodes) {
    if (rank.has(n.id)) continue;
    const stack: { h: string; i: number }[] = [{ h: n.id, i: 0 }];
    const onStack = new Set([n.id]);
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
  // Order each column by the mean row of its neighbours (barycentre), sweeping right then left a few
  // times: linear per sweep, and it removes most crossings the graph's order would leave.
  const cols: string[][] = [];
  for (const n of graph.nodes) {
    const r = rank.get(n.id) ?? 0;
    (cols[r] ??= []).push(n.id);
  }
  const dependents = new Map<string, string[]>();
  for (const [h, ds] of deps) for (const d of ds) if (deps.has(d)) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(h);
  const row = new Map<string, number>();
  const number = (col: string[]) => col.forEach((h, i) => row.set(h, i));
  for (const col of cols) if (col) number(col);
  const sortBy = (col: string[], next: Map<string, string[]>) => {
    const key = new Map<string, number>();
    for (const h of col) {
      const ns = (next.get(h) ?? []).filter((n) => row.has(n));
      key.set(h, ns.length ? ns.reduce((a, n) => a + row.get(n)!, 0) / ns.length : row.get(h)!);
    }
    col.sort((a, b) => key.get(a)! - key.get(b)!);
    number(col);
  };
  for (let sweep = 0; sweep < 4; sweep++) {
    for (let c = 1; c < cols.length; c++) if (cols[c]) sortBy(cols[c]!, deps);
    for (let c = cols.length - 2; c >= 0; c--) if (cols[c]) sortBy(cols[c]!, dependents);
  }
  const pos: Positions = new Map();
  cols.forEach((col, r) => {
    col?.forEach((h, i) => pos.set(h, { x: r * (NODE_WIDTH + 70), y: i * (NODE_HEIGHT + 24) }));
  });
  return pos;
}

/** How many pairs of edges cross, with each edge drawn as a straight line between its handles. */
export function countCrossings(pos: Positions, edges: { from: string; to: string }[]): number {
  const segs: [number, number, number, number][] = [];
  for (const e of edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (a && b) segs.push([a.x + NODE_WIDTH, a.y + NODE_HEIGHT / 2, b.x, b.y + NODE_HEIGHT / 2]);
  }
  const side = (ax: number, ay: number, bx: number, by: number, cx: number, cy: number) => Math.sign((bx - ax) * (cy - ay) - (by - ay) * (cx - ax));
  let n = 0;
  for (let i = 0; i < segs.length; i++) {
    const [x1, y1, x2, y2] = segs[i]!;
    for (let j = i + 1; j < segs.length; j++) {
      const [x3, y3, x4, y4] = segs[j]!;
      if (Math.max(x1, x2) <= Math.min(x3, x4) || Math.max(x3, x4) <= Math.min(x1, x2)) continue;
      const d1 = side(x3, y3, x4, y4, x1, y1);
      const d2 = side(x3, y3, x4, y4, x2, y2);
      const d3 = side(x1, y1, x2, y2, x3, y3);
      const d4 = side(x1, y1, x2, y2, x4, y4);
      // strictly on opposite sides both ways: edges sharing an end point do not count
      if (d1 * d2 < 0 && d3 * d4 < 0) n++;
    }
  }
  return n;
}
