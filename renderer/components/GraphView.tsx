// The derivation graph: layered layout, zoom/pan/minimap/fit, live node states,
// selection highlighting its dependencies and dependents, filters dimming the rest.
import { type CSSProperties, useCallback, useEffect, useMemo, useRef, useState } from "react";
import {
  Background,
  ControlButton,
  Panel,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useNodesState,
  useReactFlow,
  useStore,
  useStoreApi,
  getViewportForBounds,
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
import { useClusters } from "../stores/clusters";
import { type GraphIndex, indexGraph, reach, whyDepends } from "../lib/graphIndex";
import { clusterGraph, modulesOf } from "../lib/clusters";
import { layoutGraph, NODE_HEIGHT, NODE_WIDTH } from "../lib/layout";
import { windowBounds, windowKey } from "../lib/viewWindow";
import { placeLabels, type LabelCandidate } from "../lib/mapLabels";
import { DrvNode, type DrvFlowNode } from "./DrvNode";
import { ClusterNode, type ClusterFlowNode } from "./ClusterNode";
import type { GraphNode, NodeState } from "../../core/api/schema";

const nodeTypes = { drv: DrvNode, cluster: ClusterNode };
type FlowNode = DrvFlowNode | ClusterFlowNode;
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
export const FIT_PADDING = { top: "48px", bottom: "24px", left: "64px", right: "188px" } as const;
/** above this many nodes, mount only what is in view and open zoomed in on the roots */
const LARGE = 300;
/** below this zoom a large graph is drawn on a canvas instead of as DOM nodes (unreadable there anyway) */
export const FAR_ZOOM = 0.5;
/** from this zoom the canvas writes each node's name (about 11 px on screen or more) */
const CANVAS_LABELS = 0.25;
/** a graph of more nodes than this, made by more than one module, opens with its modules collapsed */
const CLUSTER_ABOVE = 150;
/** below this zoom a node shows only its name, in a larger type, so labels survive zooming out */
const ZOOMED_OUT = 0.7;
const NO_NODES: FlowNode[] = [];
const NO_EDGES: Edge[] = [];
const NO_VIEW_EDGES: { from: string; to: string }[] = [];
const NO_ROOTS: string[] = [];

/**
 * A large graph at far zoom: every node a rectangle in its state's colour and every edge a line,
 * drawn on one canvas in the viewport's transform, instead of thousands of DOM nodes.
 */
const fitted = new Map<string, string>();
/** `text` cut with an ellipsis to fit `width` at this font size (remembered: the same names come back every frame). */
function fitText(g: CanvasRenderingContext2D, text: string, width: number, font: number): string {
  const key = `${font}\u0000${text}`;
  let t = fitted.get(key);
  if (t !== undefined) return t;
  t = text;
  if (g.measureText(t).width > width) {
    while (t.length > 1 && g.measureText(`${t}…`).width > width) t = t.slice(0, -1);
    t = `${t}…`;
  }
  if (fitted.size > 20_000) fitted.clear();
  fitted.set(key, t);
  return t;
}

function FarCanvas({ nodes, edges, selected }: { nodes: FlowNode[]; edges: { from: string; to: string }[]; selected: string | null }) {
  const [tx, ty, zoom] = useStore((s) => s.transform);
  const width = useStore((s) => s.width);
  const height = useStore((s) => s.height);
  const states = useBuilds((s) => s.states);
  // selection, why-depends and filters, as the DOM nodes show them: dimmed, or outlined in the role's colour
  const roles = useView((s) => s.roles);
  const ref = useRef<HTMLCanvasElement>(null);
  const at = useMemo(() => new Map(nodes.map((n) => [n.id, n.position])), [nodes]);
  const bounds = useMemo(() => {
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -Infinity;
    let y1 = -Infinity;
    for (const n of nodes) {
      x0 = Math.min(x0, n.position.x);
      y0 = Math.min(y0, n.position.y);
      x1 = Math.max(x1, n.position.x + NODE_WIDTH);
      y1 = Math.max(y1, n.position.y + NODE_HEIGHT);
    }
    return Number.isFinite(x0) ? { x0, y0, w: x1 - x0, h: y1 - y0 } : null;
  }, [nodes]);
  // The whole graph drawn once at this zoom, when that fits in a bitmap: a pan is then one copy of it.
  const cache = useRef<{ key: unknown[]; image: HTMLCanvasElement } | null>(null);
  useEffect(() => {
    const c = ref.current;
    const ctx = c?.getContext("2d");
    if (!c || !ctx || !bounds) return;
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(width * dpr)) c.width = Math.round(width * dpr);
    if (c.height !== Math.round(height * dpr)) c.height = Math.round(height * dpr);
    // `view`: the part of the graph in view (nodes by their top left corner, widened by a node), or all of it
    const draw = (g: CanvasRenderingContext2D, view: { x0: number; y0: number; x1: number; y1: number } | null) => {
      const visible = (x: number, y: number) => !view || (x >= view.x0 && x <= view.x1 && y >= view.y0 && y <= view.y1);
      g.beginPath();
      for (const e of edges) {
        const a = at.get(e.from);
        const b = at.get(e.to);
        if (!a || !b) continue;
        // an edge whose box misses the view is not drawn (one crossing the view is, ends out of view or not)
        if (view && (Math.max(a.x, b.x) < view.x0 || Math.min(a.x, b.x) > view.x1 || Math.max(a.y, b.y) < view.y0 || Math.min(a.y, b.y) > view.y1)) continue;
        g.moveTo(a.x + NODE_WIDTH, a.y + NODE_HEIGHT / 2);
        g.lineTo(b.x, b.y + NODE_HEIGHT / 2);
      }
      g.strokeStyle = "rgba(100,116,139,0.35)";
      g.lineWidth = 1 / zoom;
      g.stroke();
      // Names, as the DOM nodes show them zoomed out: scaled up to stay readable, on one line.
      const font = labels ? 14 * Math.min(3.2, 0.9 / zoom) : 0;
      if (labels) {
        g.font = `600 ${font}px system-ui, sans-serif`;
        g.textBaseline = "middle";
      }
      for (const n of nodes) {
        if (n.hidden || !visible(n.position.x, n.position.y)) continue;
        const colour = n.type === "drv" ? MINIMAP_COLOURS[states[n.data.node.hash] ?? n.data.node.state] : CLUSTER_COLOUR;
        const role = roles.get(n.id);
        g.globalAlpha = role === "dim" ? 0.2 : 1;
        const ring = role ? ROLE_COLOURS[role] : undefined;
        if (ring) {
          g.fillStyle = ring;
          const w = Math.max(3, 3 / zoom);
          g.fillRect(n.position.x - w, n.position.y - w, NODE_WIDTH + 2 * w, NODE_HEIGHT + 2 * w);
        }
        if (!labels) {
          g.fillStyle = colour;
          g.fillRect(n.position.x, n.position.y, NODE_WIDTH, NODE_HEIGHT);
          continue;
        }
        g.fillStyle = n.type === "drv" ? "#fff" : "#f1f5f9";
        g.fillRect(n.position.x, n.position.y, NODE_WIDTH, NODE_HEIGHT);
        g.strokeStyle = "#c9d1db";
        g.lineWidth = 1.5;
        g.strokeRect(n.position.x, n.position.y, NODE_WIDTH, NODE_HEIGHT);
        g.fillStyle = colour;
        g.fillRect(n.position.x, n.position.y, Math.min(20, 5 / zoom), NODE_HEIGHT);
        g.fillStyle = "#1e293b";
        g.fillText(fitText(g, n.type === "drv" ? n.data.node.name : n.data.module, NODE_WIDTH - 16, font), n.position.x + 10, n.position.y + NODE_HEIGHT / 2);
      }
      g.globalAlpha = 1;
      const sel = selected ? at.get(selected) : undefined;
      if (sel) {
        g.strokeStyle = "#2563eb";
        g.lineWidth = 4 / zoom;
        g.strokeRect(sel.x, sel.y, NODE_WIDTH, NODE_HEIGHT);
      }
    };
    const labels = zoom >= CANVAS_LABELS;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, c.width, c.height);
    const pad = 4; // device pixels around the graph, for the outline and the lines' width
    const iw = Math.ceil(bounds.w * zoom * dpr) + 2 * pad;
    const ih = Math.ceil(bounds.h * zoom * dpr) + 2 * pad;
    if (!labels && iw <= 4096 && ih <= 4096) {
      const key = [zoom, dpr, nodes, edges, states, selected, roles];
      if (!cache.current || cache.current.key.some((k, i) => k !== key[i])) {
        const image = cache.current?.image ?? document.createElement("canvas");
        image.width = iw;
        image.height = ih;
        const g = image.getContext("2d")!;
        g.setTransform(dpr * zoom, 0, 0, dpr * zoom, pad - bounds.x0 * dpr * zoom, pad - bounds.y0 * dpr * zoom);
        draw(g, null);
        cache.current = { key, image };
      }
      ctx.drawImage(cache.current.image, Math.round(dpr * (tx + bounds.x0 * zoom) - pad), Math.round(dpr * (ty + bounds.y0 * zoom) - pad));
      return;
    }
    // With names, or too large for one bitmap: draw what is in view, every frame.
    cache.current = null;
    ctx.setTransform(dpr * zoom, 0, 0, dpr * zoom, dpr * tx, dpr * ty);
    draw(ctx, { x0: -tx / zoom - NODE_WIDTH, y0: -ty / zoom - NODE_HEIGHT, x1: (width - tx) / zoom, y1: (height - ty) / zoom });
  }, [tx, ty, zoom, width, height, nodes, edges, at, states, selected, bounds, roles]);
  return (
    <canvas
      ref={ref}
      className="far-canvas"
      data-testid="far-canvas"
      data-nodes={nodes.length}
      style={{ width, height }}
      role="img"
      aria-label="The graph at far zoom: each node a rectangle in its state's colour, with its name once zoomed in enough; zoom in further for badges"
    />
  );
}

/** the map labels' font size on screen, and the smallest on-screen size of a node's own name before they take over */
const MAP_LABEL_PX = 12;
const READABLE_PX = 11;
/** measures the labels' names (one for the page) */
let labelContext: CanvasRenderingContext2D | null = null;

/**
 * Labels as maps place them (renderer/lib/mapLabels.ts), for a graph whose nodes' own names are
 * below READABLE_PX on screen: names at MAP_LABEL_PX for as many nodes as fit without overlapping,
 * chosen by importance (selected, hovered and their neighbours, roots, fan-in); the rest on hover.
 * Placed once per zoom and set of nodes; a pan moves one layer (the labels are plain spans, no xyflow nodes).
 */
function MapLabels({
  nodes,
  ix,
  roots,
  selected,
  hovered,
}: {
  nodes: FlowNode[];
  ix: GraphIndex | null;
  roots: readonly string[];
  selected: string | null;
  hovered: string | null;
}) {
  const [tx, ty, zoom] = useStore((s) => s.transform);
  const roles = useView((s) => s.roles);
  const placed = useMemo(() => {
    labelContext ??= document.createElement("canvas").getContext("2d");
    const g = labelContext;
    if (g) g.font = `600 ${MAP_LABEL_PX}px system-ui, sans-serif`;
    const measure = (name: string) => (g ? g.measureText(name).width : name.length * MAP_LABEL_PX * 0.6) + 8;
    const rootSet = new Set(roots);
    const near = new Set<string>();
    for (const h of [selected, hovered]) if (h) for (const n of [...(ix?.deps.get(h) ?? []), ...(ix?.dependents.get(h) ?? [])]) near.add(n);
    const candidates: LabelCandidate[] = [];
    for (const n of nodes) {
      if (n.hidden || n.type !== "drv") continue;
      const fanIn = ix?.dependents.get(n.id)?.length ?? 0;
      const priority =
        (n.id === selected ? 1e6 : 0) +
        (n.id === hovered ? 5e5 : 0) +
        (near.has(n.id) ? 1e5 : 0) +
        (rootSet.has(n.id) ? 1e4 : 0) +
        (roles.get(n.id) === "dim" ? -1e3 : 0) +
        fanIn;
      candidates.push({ id: n.id, x: n.position.x, y: n.position.y, name: n.data.node.name, priority });
    }
    return placeLabels(candidates, { zoom, nodeWidth: NODE_WIDTH, nodeHeight: NODE_HEIGHT, height: MAP_LABEL_PX + 3, gap: 0, measure });
  }, [nodes, ix, roots, selected, hovered, roles, zoom]);
  return (
    <div className="map-labels" data-testid="map-labels" data-count={placed.length} aria-hidden="true">
      <div style={{ transform: `translate(${tx}px, ${ty}px)` }}>
        {placed.map((l) => (
          <span
            key={l.id}
            className={`map-label${l.id === selected ? " map-label-selected" : ""}${roles.get(l.id) === "dim" ? " map-label-dim" : ""}`}
            data-node={l.name}
            style={{ left: l.left, top: l.top, width: l.width, height: l.height, fontSize: MAP_LABEL_PX }}
          >
            {l.name}
          </span>
        ))}
      </div>
    </div>
  );
}

const CLUSTER_COLOUR = "#334155";
/** the canvas's ring around a node with a role (the DOM nodes' colours for them); dimmed nodes fade instead */
const ROLE_COLOURS: Partial<Record<Role, string>> = { dep: "#0891b2", dependent: "#c026d3", path: "#b45309" };
const MINIMAP_COLOURS: Record<NodeState, string> = {
  "not-built": "#94a3b8",
  cached: "#0ea5e9",
  queued: "#a78bfa",
  building: "#f59e0b",
  built: "#22c55e",
  failed: "#ef4444",
  cancelled: "#64748b",
  skipped: "#cbd5e1",
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
        if (n.type === "cluster") return CLUSTER_COLOUR;
        const d = (n as DrvFlowNode).data?.node;
        return d ? MINIMAP_COLOURS[states[d.hash] ?? d.state] : "#ccc";
      }}
    />
  );
}

/**
 * The overview of a large graph: its nodes drawn once on a small canvas (redrawn when states change,
 * not while panning) and the viewport as one outlined box; xyflow's SVG minimap repaints thousands of
 * rectangles on every frame of a pan. A click centres the graph there.
 */
function LargeMiniMap({ nodes }: { nodes: FlowNode[] }) {
  const W = 160;
  const H = 100;
  const [tx, ty, zoom] = useStore((s) => s.transform);
  const width = useStore((s) => s.width);
  const height = useStore((s) => s.height);
  const states = useBuilds((s) => s.states);
  const flow = useReactFlow();
  const ref = useRef<HTMLCanvasElement>(null);
  const box = useMemo(() => {
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -Infinity;
    let y1 = -Infinity;
    for (const n of nodes) {
      x0 = Math.min(x0, n.position.x);
      y0 = Math.min(y0, n.position.y);
      x1 = Math.max(x1, n.position.x + NODE_WIDTH);
      y1 = Math.max(y1, n.position.y + NODE_HEIGHT);
    }
    if (!Number.isFinite(x0)) return null;
    const scale = Math.min(W / (x1 - x0), H / (y1 - y0));
    return { x0, y0, scale, ox: (W - (x1 - x0) * scale) / 2, oy: (H - (y1 - y0) * scale) / 2 };
  }, [nodes]);
  useEffect(() => {
    const ctx = ref.current?.getContext("2d");
    if (!ctx || !box) return;
    ctx.clearRect(0, 0, W, H);
    for (const n of nodes) {
      if (n.hidden) continue;
      ctx.fillStyle = n.type === "drv" ? MINIMAP_COLOURS[states[n.data.node.hash] ?? n.data.node.state] : CLUSTER_COLOUR;
      ctx.fillRect(
        box.ox + (n.position.x - box.x0) * box.scale,
        box.oy + (n.position.y - box.y0) * box.scale,
        Math.max(1, NODE_WIDTH * box.scale),
        Math.max(1, NODE_HEIGHT * box.scale),
      );
    }
  }, [nodes, states, box]);
  if (!box) return null;
  // the viewport in graph coordinates, then in the overview's
  const vx = box.ox + (-tx / zoom - box.x0) * box.scale;
  const vy = box.oy + (-ty / zoom - box.y0) * box.scale;
  const vw = (width / zoom) * box.scale;
  const vh = (height / zoom) * box.scale;
  return (
    <Panel position="bottom-right" className="react-flow__minimap large-minimap" data-testid="large-minimap">
      <canvas
        ref={ref}
        width={W}
        height={H}
        role="img"
        aria-label="Graph overview; click to centre the graph there"
        onClick={(e) => {
          const r = e.currentTarget.getBoundingClientRect();
          const gx = (e.clientX - r.left - box.ox) / box.scale + box.x0;
          const gy = (e.clientY - r.top - box.oy) / box.scale + box.y0;
          void flow.setCenter(gx, gy, { zoom, duration: 0 });
        }}
      />
      <div className="large-minimap-view" style={{ left: vx, top: vy, width: vw, height: vh }} />
    </Panel>
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
  const [nodes, setNodes, onNodesChange] = useNodesState<FlowNode>([]);
  const [laidOut, setLaidOut] = useState(0);
  const [hovered, setHovered] = useState<string | null>(null);
  const flow = useReactFlow();
  const flowStore = useStoreApi();
  // A large graph gives xyflow only the nodes around the view (below), so fitting and centring work
  // from the layout's positions, not from xyflow's nodes.
  const nodesRef = useRef(nodes);
  nodesRef.current = nodes;
  const fitTo = useCallback(
    (ids: ReadonlySet<string> | null, minZoom: number, maxZoom: number) => {
      let x0 = Infinity;
      let y0 = Infinity;
      let x1 = -Infinity;
      let y1 = -Infinity;
      for (const n of nodesRef.current) {
        if (ids ? !ids.has(n.id) : n.hidden) continue;
        x0 = Math.min(x0, n.position.x);
        y0 = Math.min(y0, n.position.y);
        x1 = Math.max(x1, n.position.x + NODE_WIDTH);
        y1 = Math.max(y1, n.position.y + NODE_HEIGHT);
      }
      if (!Number.isFinite(x0)) return;
      const { width, height } = flowStore.getState();
      void flow.setViewport(getViewportForBounds({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, width, height, minZoom, maxZoom, FIT_PADDING));
    },
    [flow, flowStore],
  );

  // Clusters: a new graph (another project or function) made by several modules opens with them
  // collapsed when it is large; a re-evaluation of the same one keeps what the user chose.
  const collapsed = useClusters((s) => s.collapsed);
  const modules = useMemo(() => (graph ? modulesOf(graph) : []), [graph]);
  useEffect(() => {
    if (!graph) return;
    const key = `${graph.project}\n${graph.moduleArg}`;
    const c = useClusters.getState();
    if (c.forGraph === key) return;
    c.setCollapsed(graph.nodes.length > CLUSTER_ABOVE && modules.length > 1 ? new Set(modules.map((m) => m.module)) : new Set(), key);
  }, [graph, modules]);
  // Focus mode shows derivations, never clusters.
  const view = useMemo(() => (graph ? clusterGraph(graph, focus ? new Set() : collapsed) : null), [graph, collapsed, focus]);

  // Lay the view out whenever a new graph arrives or a module is collapsed or expanded.
  useEffect(() => {
    if (!view) {
      setNodes([]);
      return;
    }
    // the effect above has just chosen the clusters of a new graph: lay out that view, not this one
    if (useClusters.getState().collapsed !== collapsed) return;
    let stale = false;
    void layoutGraph(view).then((pos) => {
      if (stale) return;
      performance.mark("bramble:layout-done");
      setNodes(
        view.nodes.map((v): FlowNode => {
          // Known size and handles up front: otherwise xyflow mounts every node once to
          // measure it, which for thousands of nodes costs seconds before the first paint.
          const common = {
            id: v.id,
            position: pos.get(v.id) ?? { x: 0, y: 0 },
            width: NODE_WIDTH,
            height: NODE_HEIGHT,
            measured: { width: NODE_WIDTH, height: NODE_HEIGHT },
            handles: HANDLES,
          };
          if (v.kind === "cluster")
            return {
              ...common,
              type: "cluster",
              data: { module: v.module, members: v.members },
              ariaLabel: `module ${v.module}, ${v.members.length} derivations, collapsed`,
            };
          return { ...common, type: "drv", data: { node: v.node }, ariaLabel: `${v.node.name}, ${v.node.badge}, ${v.node.system}` };
        }),
      );
      setLaidOut((v) => v + 1);
    });
    return () => {
      stale = true;
    };
  }, [view, version, setNodes, collapsed]);

  // Fit the whole graph when it is small; a large one opens on its roots at a readable
  // zoom, so only the nodes in view are mounted (onlyRenderVisibleElements).
  useEffect(() => {
    if (!laidOut || !graph || !view) return;
    requestAnimationFrame(() => {
      // in focus mode (which shows derivations, never clusters, so entering it may lay out anew): its neighbourhood
      if (shownRef.current) fitTo(shownRef.current, 0.002, 1.2);
      else if (view.nodes.length <= LARGE) void flow.fitView({ padding: FIT_PADDING, maxZoom: 1.2, duration: 0 });
      else {
        // the roots at the top of their column (the layout orders columns by their neighbours, not by name)
        const at = new Map(nodesRef.current.map((n) => [n.id, n.position.y]));
        const roots = [...new Set(graph.roots.map((h) => view.shownAs.get(h) ?? h))].sort((a, b) => (at.get(a) ?? 0) - (at.get(b) ?? 0));
        fitTo(new Set(roots.slice(0, 12)), 0.5, 1);
      }
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [laidOut, flow]);

  // Focus mode: hide everything beyond the focused node's neighbourhood, and fit what is left.
  const shownRef = useRef<Set<string> | null>(null);
  const shownIds = useMemo(() => {
    if (!focus || !graph) return null;
    const ix = indexGraph(graph);
    const keep = new Set([focus.hash]);
    let frontier = [focus.hash];
    for (let i = 0; i < focus.hops; i++) {
      const next: string[] = [];
      for (const h of frontier) for (const n of [...(ix.deps.get(h) ?? []), ...(ix.dependents.get(h) ?? [])]) if (!keep.has(n)) keep.add(n), next.push(n);
      frontier = next;
    }
    return keep;
  }, [focus, graph]);
  shownRef.current = shownIds;
  useEffect(() => {
    setNodes((ns) => ns.map((n) => (n.hidden === (shownIds ? !shownIds.has(n.id) : false) ? n : { ...n, hidden: shownIds ? !shownIds.has(n.id) : false })));
  }, [shownIds, setNodes, laidOut]);
  const focusedBefore = useRef(false);
  useEffect(() => {
    if (!shownIds && !focusedBefore.current) return;
    focusedBefore.current = !!shownIds;
    requestAnimationFrame(() => fitTo(shownIds, 0.002, 1.2));
  }, [shownIds, fitTo]);

  // Centre on a node picked outside the graph (node panel links, search).
  const centred = useRef(0);
  useEffect(() => {
    if (!selected || !focusRequest || centred.current === focusRequest) return;
    const shown = view?.shownAs.get(selected);
    if (shown && shown !== selected) {
      // inside a collapsed module: expand it; the new layout centres it (this effect runs again)
      const m = view?.nodes.find((v) => v.id === shown);
      if (m?.kind === "cluster") useClusters.getState().expand(m.module);
      return;
    }
    const n = nodesRef.current.find((x) => x.id === selected);
    if (!n) return;
    centred.current = focusRequest;
    // after the fit a new layout asks for (queued the same way, earlier), so the centring wins
    requestAnimationFrame(
      () => void flow.setCenter(n.position.x + NODE_WIDTH / 2, n.position.y + NODE_HEIGHT / 2, { zoom: Math.max(flow.getZoom(), 0.8), duration: 300 }),
    );
  }, [focusRequest, selected, flow, view, laidOut]);

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
    // A collapsed module takes its members' strongest role, and is dimmed only when all of them are.
    const rank: Record<Role, number> = { selected: 4, path: 3, dep: 2, dependent: 2, dim: 0 };
    for (const v of view?.nodes ?? []) {
      if (v.kind !== "cluster") continue;
      let best: Role | undefined;
      let dim = 0;
      for (const h of v.members) {
        const r = roles.get(h);
        if (r === "dim") dim++;
        else if (r && (!best || rank[r] > rank[best])) best = r;
      }
      if (best) roles.set(v.id, best);
      else if (dim === v.members.length) roles.set(v.id, "dim");
    }
    useView.getState().setRoles(roles, matches);
  }, [graph, view, selected, related, filters, filterStates, onPath]);

  useEffect(() => {
    useView.getState().setChanged(new Set(diff?.changed ?? []));
  }, [diff]);

  const edges: Edge[] = useMemo(() => {
    if (!graph || !view) return [];
    const busy = new Set(building ? building.split(" ") : []);
    // An edge next to a cluster stands for several: it is hot or animated when any of them is.
    const hotIds = new Set<string>();
    const busyIds = new Set<string>();
    for (const e of graph.edges) {
      const hot = onPath
        ? onPath.has(e.from) && onPath.has(e.to)
        : selected != null &&
          (e.from === selected ||
            e.to === selected ||
            (related?.deps.has(e.from) && (related.deps.has(e.to) || e.to === selected)) ||
            (related?.dependents.has(e.to) && (related.dependents.has(e.from) || e.from === selected)));
      if (!hot && !busy.has(e.to)) continue;
      const id = `${view.shownAs.get(e.from)}->${view.shownAs.get(e.to)}`;
      if (hot) hotIds.add(id);
      if (busy.has(e.to)) busyIds.add(id);
    }
    return view.edges.map((e) => ({
      id: e.id,
      source: e.from,
      target: e.to,
      className: hotIds.has(e.id) ? "edge-hot" : selected ? "edge-dim" : undefined,
      animated: busyIds.has(e.id),
      focusable: false,
      hidden: shownIds ? !shownIds.has(e.from) || !shownIds.has(e.to) : false,
      ...(e.count > 1
        ? {
            label: `×${e.count}`,
            labelShowBg: false,
            className: `${hotIds.has(e.id) ? "edge-hot" : selected ? "edge-dim" : ""} edge-bundle`,
          }
        : {}),
    }));
  }, [graph, view, selected, related, building, shownIds, onPath]);

  // A cluster is not a derivation: clicking it (or Enter on it) expands its module.
  const onNodeClick: NodeMouseHandler<FlowNode> = useCallback(
    (_, n) => (n.type === "drv" ? select(n.id) : useClusters.getState().expand(n.data.module)),
    [select],
  );
  const onSelectionChange: OnSelectionChangeFunc<FlowNode> = useCallback(
    ({ nodes: sel }) => {
      const n = sel.length === 1 ? sel[0]! : null;
      if (n?.type === "cluster") useClusters.getState().expand(n.data.module);
      else if (n && n.id !== useSelection.getState().selected) select(n.id);
    },
    [select],
  );

  const large = (view?.nodes.length ?? 0) > LARGE;
  const zoom = useStore((s) => s.transform[2]);
  const far = large && zoom < FAR_ZOOM;
  // Labels that survive zooming out: below ZOOMED_OUT a node shows only its name, scaled up
  // (at most 3.2×, on one line above 2.2×) so it stays about 12 px on screen; in steps, so zooming restyles rarely.
  const labelZoom = zoom < ZOOMED_OUT ? Math.min(3.2, Math.round((0.9 / zoom) * 5) / 5) : 1;
  const viewW = useStore((s) => s.width);
  const viewH = useStore((s) => s.height);
  // Below READABLE_PX a node's own name gives way to the map labels (a graph small enough for DOM nodes).
  const mapLabels = !large && nodes.length > 0 && 14 * labelZoom * zoom < READABLE_PX;
  // a node hovered before zooming in is not hovered when the labels come back
  useEffect(() => {
    if (!mapLabels) setHovered(null);
  }, [mapLabels]);
  // Fit the whole graph, from the layout's positions (at far zoom xyflow has no nodes to fit).
  const fitAll = useCallback(() => fitTo(null, 0.002, 1.2), [fitTo]);
  // Windowing (renderer/lib/viewWindow.ts): a large graph gives xyflow only the nodes in a window
  // around the view, the edges with an end among them and those edges' other ends.
  const key = useStore((s) => (large && s.transform[2] >= FAR_ZOOM ? windowKey(s.transform[0], s.transform[1], s.transform[2], s.width, s.height) : ""));
  const [shownNodes, shownEdges] = useMemo((): [FlowNode[], Edge[]] => {
    if (!key) return [nodes, edges];
    const w = windowBounds(key, viewW, viewH);
    // a node whose top left corner is up to a node's size before the window still reaches into it
    const x0 = w.x0 - NODE_WIDTH;
    const y0 = w.y0 - NODE_HEIGHT;
    const { x1, y1 } = w;
    const inside = new Set<string>();
    for (const n of nodes) if (n.position.x >= x0 && n.position.x <= x1 && n.position.y >= y0 && n.position.y <= y1) inside.add(n.id);
    const ends = new Set(inside);
    const es = edges.filter((e) => {
      if (!inside.has(e.source) && !inside.has(e.target)) return false;
      ends.add(e.source);
      ends.add(e.target);
      return true;
    });
    return [nodes.filter((n) => ends.has(n.id)), es];
  }, [key, nodes, edges, viewW, viewH]);
  return (
    <ReactFlow
      nodes={far ? NO_NODES : shownNodes}
      edges={far ? NO_EDGES : shownEdges}
      data-window={key ? shownNodes.length : undefined}
      className={
        [labelZoom > 2.2 ? "zoomed-out zoomed-far" : labelZoom > 1 ? "zoomed-out" : "", mapLabels ? "map-labelled" : ""].filter(Boolean).join(" ") || undefined
      }
      style={labelZoom > 1 ? ({ "--label-zoom": labelZoom } as CSSProperties) : undefined}
      nodeTypes={nodeTypes}
      onNodesChange={onNodesChange}
      onNodeClick={onNodeClick}
      onNodeMouseEnter={mapLabels ? (_, n) => setHovered(n.id) : undefined}
      onNodeMouseLeave={mapLabels ? () => setHovered(null) : undefined}
      onSelectionChange={onSelectionChange}
      onPaneClick={(e) => {
        // at far zoom the nodes are pixels on the canvas: a click on one selects it (or expands its cluster)
        const p = far ? flow.screenToFlowPosition({ x: e.clientX, y: e.clientY }) : null;
        const hit = p
          ? nodes.find((n) => !n.hidden && p.x >= n.position.x && p.x <= n.position.x + NODE_WIDTH && p.y >= n.position.y && p.y <= n.position.y + NODE_HEIGHT)
          : undefined;
        if (hit?.type === "cluster") useClusters.getState().expand(hit.data.module);
        else select(hit ? hit.id : null);
      }}
      nodesDraggable={!large}
      nodesConnectable={false}
      edgesFocusable={false}
      onlyRenderVisibleElements={large}
      minZoom={0.002}
      maxZoom={2.5}
      proOptions={{ hideAttribution: true }}
      aria-label="Derivation graph"
    >
      <Background gap={24} size={1} />
      {/* A large graph fits from the layout's positions: xyflow's own fit would be queued while the canvas has taken its nodes, and fire later. */}
      <Controls aria-label="Graph zoom controls" showInteractive={false} showFitView={!large} fitViewOptions={{ padding: FIT_PADDING, maxZoom: 1.2 }}>
        {large ? (
          <ControlButton onClick={fitAll} aria-label="fit view" title="fit view" className="react-flow__controls-fitview">
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 30" aria-hidden="true">
              <path d="M3.692 4.63c0-.53.4-.938.939-.938h5.215V0H4.708C2.13 0 0 2.054 0 4.63v5.216h3.692V4.631zM27.354 0h-5.2v3.692h5.17c.53 0 .984.4.984.939v5.215H32V4.631A4.624 4.624 0 0027.354 0zm.954 24.83c0 .532-.4.94-.939.94h-5.215v3.768h5.215c2.577 0 4.631-2.13 4.631-4.707v-5.139h-3.692v5.139zm-23.677.94c-.531 0-.939-.4-.939-.94v-5.138H0v5.139c0 2.577 2.13 4.707 4.708 4.707h5.138V25.77H4.631z" />
            </svg>
          </ControlButton>
        ) : null}
      </Controls>
      {mapLabels ? <MapLabels nodes={nodes} ix={ix} roots={graph?.roots ?? NO_ROOTS} selected={selected} hovered={hovered} /> : null}
      {far ? <FarCanvas nodes={nodes} edges={view?.edges ?? NO_VIEW_EDGES} selected={selected} /> : null}
      {large ? <LargeMiniMap nodes={nodes} /> : <StateMiniMap />}
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
      {graph && !focus ? <ModulesBar /> : null}
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

/** Collapse and expand by module: all at once, or one (a cluster's own Expand button opens it too). */
function ModulesBar() {
  const graph = useGraph((s) => s.graph);
  const collapsed = useClusters((s) => s.collapsed);
  const modules = useMemo(() => (graph ? modulesOf(graph) : []), [graph]);
  if (modules.length < 2) return null;
  const { setCollapsed, collapse } = useClusters.getState();
  const open = modules.filter((m) => !collapsed.has(m.module));
  return (
    <div className="modules-bar" data-testid="modules-bar">
      Modules: {modules.length}, {modules.length - open.length} collapsed{" "}
      <button type="button" className="small" disabled={open.length === 0} onClick={() => setCollapsed(new Set(modules.map((m) => m.module)))}>
        Collapse all
      </button>{" "}
      <button type="button" className="small" disabled={open.length === modules.length} onClick={() => setCollapsed(new Set())}>
        Expand all
      </button>{" "}
      {open.length > 0 ? (
        <select aria-label="Collapse module" value="" onChange={(e) => e.target.value && collapse(e.target.value)}>
          <option value="">Collapse…</option>
          {open.map((m) => (
            <option key={m.module} value={m.module}>
              {m.module} ({m.members.length})
            </option>
          ))}
        </select>
      ) : null}
    </div>
  );
}
