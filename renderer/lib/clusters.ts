// Clusters by module: each derivation belongs to the module (.bramble file) whose derivation()
// call made it (GraphNode.location). A collapsed module is one node in the view, and the edges
// into and out of it become one edge per neighbouring node or cluster, with how many it stands for.
import type { Graph, GraphNode } from "../../core/api/schema";

/** The id a collapsed module has in the view: never a derivation hash (those are base32/hex). */
export const clusterId = (module: string) => `cluster:${module}`;

/**
 * The module a node was defined in, named as load() names it, relative to the project:
 * `m0` for `<project>/m0/default.bramble`, `lib/util` for `<project>/lib/util.bramble`,
 * `.` for the project's own default.bramble. A file outside the project (a loaded package)
 * keeps its last two path segments. No location (a node from the history): `?`.
 */
export function moduleOf(location: string | undefined, project: string): string {
  if (!location) return "?";
  const file = location.replace(/:\d+:\d+$/, "");
  const root = project.replace(/\/+$/, "");
  let rel: string;
  if (file.startsWith(`${root}/`)) rel = file.slice(root.length + 1);
  else rel = file.split("/").slice(-3).join("/");
  rel = rel.replace(/(^|\/)default\.bramble$/, "").replace(/\.bramble$/, "");
  return rel === "" ? "." : rel;
}

export interface ModuleGroup {
  module: string;
  /** member hashes in graph order */
  members: string[];
}

/** Every module of the graph with its members, in order of first appearance. */
export function modulesOf(graph: Graph): ModuleGroup[] {
  const groups = new Map<string, ModuleGroup>();
  for (const n of graph.nodes) {
    const m = moduleOf(n.location, graph.project);
    let g = groups.get(m);
    if (!g) groups.set(m, (g = { module: m, members: [] }));
    g.members.push(n.hash);
  }
  return [...groups.values()];
}

type ViewNode = { kind: "drv"; id: string; node: GraphNode } | { kind: "cluster"; id: string; module: string; members: string[] };
interface ViewEdge {
  id: string;
  from: string;
  to: string;
  /** how many derivation edges this one stands for (more than 1 only next to a cluster) */
  count: number;
}
export interface ViewGraph {
  nodes: ViewNode[];
  edges: ViewEdge[];
  /** hash → the id that shows it (itself, or its module's cluster) */
  shownAs: Map<string, string>;
}

/** The graph as shown: the members of each collapsed module replaced by one cluster node. */
export function clusterGraph(graph: Graph, collapsed: ReadonlySet<string>): ViewGraph {
  const shownAs = new Map<string, string>();
  const nodes: ViewNode[] = [];
  if (collapsed.size === 0) {
    for (const n of graph.nodes) {
      shownAs.set(n.hash, n.hash);
      nodes.push({ kind: "drv", id: n.hash, node: n });
    }
    return {
      nodes,
      shownAs,
      edges: graph.edges.filter((e) => shownAs.has(e.from) && shownAs.has(e.to)).map((e) => ({ id: `${e.from}->${e.to}`, from: e.from, to: e.to, count: 1 })),
    };
  }
  const clusters = new Map<string, ViewNode & { kind: "cluster" }>();
  for (const n of graph.nodes) {
    const m = moduleOf(n.location, graph.project);
    if (!collapsed.has(m)) {
      shownAs.set(n.hash, n.hash);
      nodes.push({ kind: "drv", id: n.hash, node: n });
      continue;
    }
    let c = clusters.get(m);
    if (!c) {
      c = { kind: "cluster", id: clusterId(m), module: m, members: [] };
      clusters.set(m, c);
      nodes.push(c);
    }
    c.members.push(n.hash);
    shownAs.set(n.hash, c.id);
  }
  const edges = new Map<string, ViewEdge>();
  for (const e of graph.edges) {
    const from = shownAs.get(e.from);
    const to = shownAs.get(e.to);
    if (!from || !to || from === to) continue;
    const id = `${from}->${to}`;
    const known = edges.get(id);
    if (known) known.count++;
    else edges.set(id, { id, from, to, count: 1 });
  }
  return { nodes, edges: [...edges.values()], shownAs };
}
