// The derivation graph: layered layout, zoom/pan/minimap/fit, live node states,
// selection highlighting its dependencies and dependents, filters dimming the rest.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useNodesState,
  useReactFlow,
  Position,
  type Edge,
  type NodeHandle,
  type NodeMouseHandler,
  type OnSelectionChangeFunc,
} from "@xyflow/react";
import { useGraph } from "../stores/graph";
import { useSelection } from "../stores/selection";
import { useBuilds } from "../stores/builds";
import { useView, type Role } from "../stores/view";
import { indexGraph, reach, whyDepends } from "../lib/graphIndex";
import { layoutGraph, NODE_HEIGHT, NODE_WIDTH } from "../lib/layout";
import { DrvNode, type DrvFlowNode } from "./DrvNode";
import type { GraphNode, NodeState } from "../../core/api/schema";

const nodeTypes = { drv: DrvNode };
const HANDLE = 6;
/** Where DrvNode's handles sit (left and right middle, as the default handle CSS places them). */
const HANDLES: NodeHandle[] = [
  { type: "target", position: Position.Left, x: -HANDLE / 2, y: NODE_HEIGHT / 2 - HANDLE / 2, width: HANDLE, height: HANDLE },
  { type: "source", position: Position.Right, x: NODE_WIDTH - HANDLE / 2, y: NODE_HEIGHT / 2 - HANDLE / 2, width: HANDLE, height: HANDLE },
];
/**
 * Fit leaves room for the overlays: the zoom controls (bottom left, 26 px wide) and the
 * minimap (bottom right, 160 px wide), so at 1024×700 no node sits under either.
 */
export const FIT_PADDING = { top: "24px", bottom: "24px", left: "64px", right: "188px" } as const;
/** above this many nodes, mount only what is in view and open zoomed in on the roots */
const LARGE = 300;

const MINIMAP_COLOURS: Record<NodeState, string> = {
  "not-built": "#94a3b8",
  cached: "#0ea5e9",
  queued: "#a78bfa",
  building: "#f59e0b",
  built: "#22c55e",
  failed: "#ef4444",
  cancelled: "#64748b",
};

export function matchesFilters(n: GraphNode, state: NodeState, f: { text: string; system: string; backend: string; state: string }): boolean {
  if (f.text && !n.name.toLowerCase().includes(f.text.toLowerCase()) && !n.hash.startsWith(f.text.toLowerCase())) return false;
  if (f.system && n.system !== f.system) return false;
  if (f.backend && n.badge !== f.backend && n.backend !== f.backend) return false;
  if (f.state && state !== f.state) return false;
  return true;
}

/** The minimap, coloured by live node state; re-renders on state changes without the graph. */
function StateMiniMap() {
  const states = useBuilds((s) => s.states);
  return (
    <MiniMap
      pannable
      zoomable
      style={{ width: 160, height: 100 }}
      ariaLabel="Graph overview"
      nodeColor={(n) => {
        const d = (n as DrvFlowNode).data?.node;
        return d ? MINIMAP_COLOURS[states[d.hash] ?? d.state] : "#ccc";
      }}
    />
  );
}

function Flow() {
  const graph = useGraph((s) => s.graph);
  const version = useGraph((s) => s.version);
  const diff = useGraph((s) => s.diff);
  const selected = useSelection((s) => s.selected);
  const focusRequest = useSelection((s) => s.focusRequest);
  const filters = useSelection((s) => s.filters);
  const focus = useSelection((s) => s.focus);
  const why = useSelection((s) => s.why);
  const select = useSelection((s) => s.select);
  // Subscribe to all states only while filtering by state; otherwise only to which nodes
  // are building (for animated edges), so a running build does not re-render the graph per event.
  const filterStates = useBuilds((s) => (filters.state ? s.states : null));
  const building = useBuilds((s) => (s.run ? [...s.run.running].sort().join(" ") : ""));
  const [nodes, setNodes, onNodesChange] = useNodesState<DrvFlowNode>([]);
  const [laidOut, setLaidOut] = useState(0);
  const flow = useReactFlow();

  // Lay the graph out whenever a new one arrives.
  useEffect(() => {
    if (!graph) {
      setNodes([]);
      return;
    }
    let stale = false;
    void layoutGraph(graph).then((pos) => {
      if (stale) return;
      performance.mark("bramble:layout-done");
      setNodes(
        graph.nodes.map((n) => ({
          id: n.hash,
          type: "drv",
          position: pos.get(n.hash) ?? { x: 0, y: 0 },
          data: { node: n },
          width: NODE_WIDTH,
          height: NODE_HEIGHT,
          // Known size and handles up front: otherwise xyflow mounts every node once to
          // measure it, which for thousands of nodes costs seconds before the first paint.
          measured: { width: NODE_WIDTH, height: NODE_HEIGHT },
          handles: HANDLES,
          ariaLabel: `${n.name}, ${n.badge}, ${n.system}`,
        })),
      );
      setLaidOut((v) => v + 1);
    });
    return () => {
      stale = true;
    };
  }, [graph, version, setNodes]);

  // Fit the whole graph when it is small; a large one opens on its roots at a readable
  // zoom, so only the nodes in view are mounted (onlyRenderVisibleElements).
  useEffect(() => {
    if (!laidOut || !graph) return;
    requestAnimationFrame(() => {
      if (graph.nodes.length <= LARGE) void flow.fitView({ padding: FIT_PADDING, maxZoom: 1.2, duration: 0 });
      else void flow.fitView({ nodes: graph.roots.slice(0, 12).map((id) => ({ id })), padding: FIT_PADDING, minZoom: 0.5, maxZoom: 1, duration: 0 });
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [laidOut, flow]);

  // Focus mode: hide everything beyond the focused node's neighbourhood, and fit what is left.
  const shownIds = useMemo(() => {
    if (!focus || !graph) return null;
    const ix = indexGraph(graph);
    const keep = new Set([focus.hash]);
    let frontier = [focus.hash];
    for (let i = 0; i < focus.hops; i++) {
      const next: string[] = [];
      for (const h of frontier) for (const n of [...(ix.deps.get(h) ?? []), ...(ix.dependents.get(h) ?? [])]) if (!keep.has(n)) (keep.add(n), next.push(n));
      frontier = next;
    }
    return keep;
  }, [focus, graph]);
  useEffect(() => {
    setNodes((ns) => ns.map((n) => (n.hidden === (shownIds ? !shownIds.has(n.id) : false) ? n : { ...n, hidden: shownIds ? !shownIds.has(n.id) : false })));
  }, [shownIds, setNodes, laidOut]);
  const focusedBefore = useRef(false);
  useEffect(() => {
    if (!shownIds && !focusedBefore.current) return;
    focusedBefore.current = !!shownIds;
    requestAnimationFrame(() => void flow.fitView({ padding: FIT_PADDING, maxZoom: 1.2, duration: 0, ...(shownIds ? { nodes: [...shownIds].map((id) => ({ id })) } : {}) }));
  }, [shownIds, flow]);

  // Centre on a node picked outside the graph (node panel links, search).
  useEffect(() => {
    if (!selected || !focusRequest) return;
    const n = flow.getNode(selected);
    if (n) void flow.setCenter(n.position.x + NODE_WIDTH / 2, n.position.y + NODE_HEIGHT / 2, { zoom: Math.max(flow.getZoom(), 0.8), duration: 300 });
  }, [focusRequest, selected, flow]);

  // Roles: selection highlights, filter dimming.
  const ix = useMemo(() => (graph ? indexGraph(graph) : null), [graph]);
  const onPath = useMemo(() => (ix && why ? whyDepends(ix, why.from, why.to).nodes : null), [ix, why]);
  const related = useMemo(() => {
    if (!ix || !selected || !ix.byHash.has(selected)) return null;
    return { deps: reach(selected, ix.deps), dependents: reach(selected, ix.dependents) };
  }, [ix, selected]);
  useEffect(() => {
    const roles = new Map<string, Role>();
    let matches = 0;
    const filtering = !!(filters.text || filters.system || filters.backend || filters.state);
    for (const n of graph?.nodes ?? []) {
      const st = filterStates?.[n.hash] ?? n.state;
      const ok = !filtering || matchesFilters(n, st, filters);
      if (ok) matches++;
      if (onPath) roles.set(n.hash, n.hash === selected ? "selected" : onPath.has(n.hash) ? "path" : "dim");
      else if (n.hash === selected) roles.set(n.hash, "selected");
      else if (related?.deps.has(n.hash)) roles.set(n.hash, "dep");
      else if (related?.dependents.has(n.hash)) roles.set(n.hash, "dependent");
      else if (!ok || related) roles.set(n.hash, "dim");
    }
    useView.getState().setRoles(roles, matches);
  }, [graph, selected, related, filters, filterStates, onPath]);

  useEffect(() => {
    useView.getState().setChanged(new Set(diff?.changed ?? []));
  }, [diff]);

  const edges: Edge[] = useMemo(() => {
    if (!graph) return [];
    const busy = new Set(building ? building.split(" ") : []);
    return graph.edges.map((e) => {
      const hot = onPath ? onPath.has(e.from) && onPath.has(e.to) : selected != null && (e.from === selected || e.to === selected || (related?.deps.has(e.from) && (related.deps.has(e.to) || e.to === selected)) || (related?.dependents.has(e.to) && (related.dependents.has(e.from) || e.from === selected)));
      return {
        id: `${e.from}->${e.to}`,
        source: e.from,
        target: e.to,
        className: hot ? "edge-hot" : selected ? "edge-dim" : undefined,
        animated: busy.has(e.to),
        focusable: false,
        hidden: shownIds ? !shownIds.has(e.from) || !shownIds.has(e.to) : false,
      };
    });
  }, [graph, selected, related, building, shownIds, onPath]);

  const onNodeClick: NodeMouseHandler<DrvFlowNode> = useCallback((_, n) => select(n.id), [select]);
  const onSelectionChange: OnSelectionChangeFunc<DrvFlowNode> = useCallback(
    ({ nodes: sel }) => {
      if (sel.length === 1 && sel[0]!.id !== useSelection.getState().selected) select(sel[0]!.id);
    },
    [select],
  );

  const large = (graph?.nodes.length ?? 0) > LARGE;
  return (
    <ReactFlow
      nodes={nodes}
      edges={edges}
      nodeTypes={nodeTypes}
      onNodesChange={onNodesChange}
      onNodeClick={onNodeClick}
      onSelectionChange={onSelectionChange}
      onPaneClick={() => select(null)}
      nodesDraggable={!large}
      nodesConnectable={false}
      edgesFocusable={false}
      onlyRenderVisibleElements={large}
      fitViewOptions={{ padding: FIT_PADDING, maxZoom: 1.2 }}
      minZoom={0.02}
      maxZoom={2.5}
      proOptions={{ hideAttribution: true }}
      aria-label="Derivation graph"
    >
      <Background gap={24} size={1} />
      <Controls aria-label="Graph zoom controls" showInteractive={false} fitViewOptions={{ padding: FIT_PADDING, maxZoom: 1.2 }} />
      <StateMiniMap />
    </ReactFlow>
  );
}

export function GraphView() {
  const graph = useGraph((s) => s.graph);
  const loading = useGraph((s) => s.loading);
  const evaluating = useGraph((s) => s.evaluating);
  const cancel = useGraph((s) => s.cancelEvaluation);
  const focus = useSelection((s) => s.focus);
  const focusName = useGraph((s) => s.graph?.nodes.find((n) => n.hash === focus?.hash)?.name);
  return (
    <section className="graph-view" aria-label="Graph" data-testid="graph-view" aria-busy={loading}>
      <ReactFlowProvider>
        <Flow />
      </ReactFlowProvider>
      {focus ? (
        <div className="focus-bar" data-testid="focus-bar">
          Focus: {focusName ?? focus.hash.slice(0, 8)} and its neighbours within{" "}
          <select aria-label="Focus hops" value={focus.hops} onChange={(e) => useSelection.getState().setFocus({ ...focus, hops: Number(e.target.value) })}>
            {[1, 2, 3, 5].map((n) => (
              <option key={n} value={n}>
                {n} {n === 1 ? "hop" : "hops"}
              </option>
            ))}
          </select>{" "}
          <button type="button" className="small" onClick={() => useSelection.getState().setFocus(null)}>
            Show all
          </button>
        </div>
      ) : null}
      {!graph && !loading ? <div className="graph-empty">Open a project and choose a function to see its graph.</div> : null}
      {loading ? (
        <div className="graph-loading" role="status">
          Evaluating…{" "}
          {evaluating ? (
            <button type="button" onClick={() => void cancel()} data-testid="cancel-evaluation">
              Cancel
            </button>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
