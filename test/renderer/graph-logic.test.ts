// The renderer's plain logic, without a browser: layout, graph lookups, and how build
// events move node states and the run's counts.
import { describe, expect, it } from "vitest";
import type { BuildEvent, Graph, GraphNode } from "../../core/api/schema.js";
import { indexGraph, reach } from "../../renderer/lib/graphIndex.js";
import { countCrossings, layeredFast, layoutGraph, NODE_HEIGHT, NODE_WIDTH } from "../../renderer/lib/layout.js";
import { clusterGraph, clusterId, moduleOf, modulesOf } from "../../renderer/lib/clusters.js";
import { windowBounds, windowKey } from "../../renderer/lib/viewWindow.js";
import { formatBytes, formatDuration, stateAfter } from "../../renderer/lib/states.js";
import { useBuilds } from "../../renderer/stores/builds.js";

function node(hash: string): GraphNode {
  return {
    hash,
    name: hash,
    builder: "/bin/sh",
    badge: "local",
    backend: "local",
    platform: "x86_64-linux",
    system: "x86_64-linux",
    outputs: ["out"],
    args: [],
    env: {},
    outputPaths: {},
    state: "not-built",
  };
}

// a → b → d, a → c → d (edges point from dependency to dependent)
const diamond: Graph = {
  evaluationId: 1,
  project: "/p",
  moduleArg: ".:f",
  target: "x86_64-linux",
  host: "x86_64-linux",
  roots: ["d"],
  nodes: ["d", "c", "b", "a"].map(node),
  edges: [
    { from: "a", to: "b" },
    { from: "a", to: "c" },
    { from: "b", to: "d" },
    { from: "c", to: "d" },
  ],
};

describe("layout", () => {
  it("puts every dependency in a column left of its dependents (fast layering)", () => {
    const pos = layeredFast(clusterGraph(diamond, new Set()));
    for (const e of diamond.edges) expect(pos.get(e.from)!.x).toBeLessThan(pos.get(e.to)!.x);
    expect(pos.get("b")!.x).toBe(pos.get("c")!.x);
    expect(pos.get("b")!.y).not.toBe(pos.get("c")!.y);
    expect(pos.get("d")!.x).toBe(2 * (NODE_WIDTH + 70));
  });

  it("lays a 5,000-node chain out without overflowing the stack", () => {
    const n = 5000;
    const g: Graph = {
      ...diamond,
      nodes: Array.from({ length: n }, (_, i) => node(`n${i}`)),
      edges: Array.from({ length: n - 1 }, (_, i) => ({ from: `n${i}`, to: `n${i + 1}` })),
    };
    const pos = layeredFast(clusterGraph(g, new Set()));
    expect(pos.get(`n${n - 1}`)!.x).toBeGreaterThan(pos.get("n0")!.x);
  });

  it("uses elk's layered algorithm for ordinary graphs, dependencies left", async () => {
    const pos = await layoutGraph(clusterGraph(diamond, new Set()));
    for (const e of diamond.edges) expect(pos.get(e.from)!.x).toBeLessThan(pos.get(e.to)!.x);
  }, 30_000); // loading elk (1.4 MB of JavaScript) took 4.5 s at load 17
});

describe("fewer crossings", () => {
  // a and b first, then c (needs b) and d (needs a): in the graph's order the two edges cross
  const twisted: Graph = {
    ...diamond,
    nodes: ["a", "b", "c", "d"].map(node),
    edges: [
      { from: "b", to: "c" },
      { from: "a", to: "d" },
    ],
  };
  const at = (x: number, y: number) => ({ x: x * (NODE_WIDTH + 70), y: y * (NODE_HEIGHT + 24) });

  it("counts crossing edges, not edges that share an end", () => {
    const inOrder = new Map([
      ["a", at(0, 0)],
      ["b", at(0, 1)],
      ["c", at(1, 0)],
      ["d", at(1, 1)],
    ]);
    expect(countCrossings(inOrder, twisted.edges)).toBe(1);
    expect(countCrossings(inOrder, [...twisted.edges, { from: "a", to: "c" }])).toBe(1);
    expect(
      countCrossings(inOrder, [
        { from: "a", to: "c" },
        { from: "a", to: "d" },
      ]),
    ).toBe(0);
  });

  it("orders the fast layering's columns by their neighbours (barycentre), untwisting them", () => {
    const pos = layeredFast(clusterGraph(twisted, new Set()));
    expect(countCrossings(pos, twisted.edges)).toBe(0);
    expect(pos.get("d")).toEqual(at(1, 0));
    expect(pos.get("c")).toEqual(at(1, 1));
  });
});

describe("clusters by module", () => {
  it("names a node's module as load() does, relative to the project", () => {
    expect(moduleOf("/p/m0/default.bramble:3:14", "/p")).toBe("m0");
    expect(moduleOf("/p/lib/util.bramble:1:1", "/p/")).toBe("lib/util");
    expect(moduleOf("/p/default.bramble:9:5", "/p")).toBe(".");
    expect(moduleOf("/home/u/bramble/pkgs/seeds/cc/default.bramble:2:2", "/p")).toBe("seeds/cc");
    expect(moduleOf(undefined, "/p")).toBe("?");
  });

  // x1 → y1, x1 → y2, x2 → y2 (module x to module y), y1 → z (y to the root module)
  const at = (hash: string, file: string): GraphNode => ({ ...node(hash), location: `/p/${file}:1:1` });
  const g: Graph = {
    ...diamond,
    project: "/p",
    nodes: [at("x1", "x.bramble"), at("x2", "x.bramble"), at("y1", "y/default.bramble"), at("y2", "y/default.bramble"), at("z", "default.bramble")],
    edges: [
      { from: "x1", to: "y1" },
      { from: "x1", to: "y2" },
      { from: "x2", to: "y2" },
      { from: "y1", to: "z" },
    ],
  };

  it("lists the modules with their members", () => {
    expect(modulesOf(g)).toEqual([
      { module: "x", members: ["x1", "x2"] },
      { module: "y", members: ["y1", "y2"] },
      { module: ".", members: ["z"] },
    ]);
  });

  it("collapses a module into one node, its edges bundled with their counts", () => {
    const v = clusterGraph(g, new Set(["x"]));
    expect(v.nodes.map((n) => n.id)).toEqual([clusterId("x"), "y1", "y2", "z"]);
    expect(v.edges).toEqual([
      { id: "cluster:x->y1", from: "cluster:x", to: "y1", count: 1 },
      { id: "cluster:x->y2", from: "cluster:x", to: "y2", count: 2 },
      { id: "y1->z", from: "y1", to: "z", count: 1 },
    ]);
    expect(v.shownAs.get("x2")).toBe("cluster:x");
    expect(v.shownAs.get("y2")).toBe("y2");
    const both = clusterGraph(g, new Set(["x", "y"]));
    expect(both.nodes.map((n) => n.id)).toEqual(["cluster:x", "cluster:y", "z"]);
    // edges inside a module disappear; x's three edges into y become one
    expect(both.edges).toEqual([
      { id: "cluster:x->cluster:y", from: "cluster:x", to: "cluster:y", count: 3 },
      { id: "cluster:y->z", from: "cluster:y", to: "z", count: 1 },
    ]);
  });
});

describe("the window of a large graph xyflow is given", () => {
  it("is keyed by the zoom's band and the view's centre in eighths of a view", () => {
    // zoom 1 (band 0): the centre (500, 250) of a 1000 × 500 pane is 4/8 of a view each way
    expect(windowKey(0, 0, 1, 1000, 500)).toBe("0,4,4");
    expect(windowBounds("0,4,4", 1000, 500)).toEqual({ x0: -250, x1: 1250, y0: -125, y1: 625 });
    // zoom 0.6: band floor(4 log2 0.6) = -3; the centre (5833.3, 2416.7) in eighths of 1000 / 2^-0.75
    expect(windowKey(-3000, -1200, 0.6, 1000, 500)).toBe("-3,28,23");
    // moving a few pixels keeps the key (no new window on every frame), an eighth of a view changes it
    expect(windowKey(-3010, -1195, 0.6, 1000, 500)).toBe("-3,28,23");
    expect(windowKey(-3000 - 125, -1200, 0.6, 1000, 500)).toBe("-3,29,23");
    // zooming within the band keeps it too (0.6 × 1.1 = 0.66 is still band -3)
    expect(windowKey(-3000, -1200, 0.66, 1000, 500).split(",")[0]).toBe("-3");
  });

  it("always holds the whole view", () => {
    let checked = 0;
    for (const zoom of [0.5, 0.52, 0.6, 0.7071, 0.75, 0.99, 1, 1.3, 2, 2.5])
      for (const tx of [-20000, -4321.5, -1000, 0, 333, 1500])
        for (const ty of [-9000, -777, 0, 250, 640])
          for (const [w, h] of [
            [1000, 500],
            [400, 900],
          ] as const) {
            const b = windowBounds(windowKey(tx, ty, zoom, w, h), w, h);
            const view = { x0: -tx / zoom, y0: -ty / zoom, x1: (w - tx) / zoom, y1: (h - ty) / zoom };
            expect(b.x0).toBeLessThanOrEqual(view.x0);
            expect(b.y0).toBeLessThanOrEqual(view.y0);
            expect(b.x1).toBeGreaterThanOrEqual(view.x1);
            expect(b.y1).toBeGreaterThanOrEqual(view.y1);
            checked++;
          }
    expect(checked).toBe(600);
  });
});

describe("graph lookups", () => {
  it("finds dependencies and dependents transitively", () => {
    const ix = indexGraph(diamond);
    expect([...reach("d", ix.deps)].sort()).toEqual(["a", "b", "c"]);
    expect([...reach("a", ix.dependents)].sort()).toEqual(["b", "c", "d"]);
    expect([...reach("b", ix.deps)]).toEqual(["a"]);
    expect(indexGraph(diamond)).toBe(ix);
  });
});

describe("build events", () => {
  it("move node states and the run's counts", () => {
    const runId = "r1";
    const events: BuildEvent[] = [
      { type: "run-started", runId, total: 3, nodes: ["a", "b", "c"].map((h) => ({ hash: h, name: h, backend: "local" })) },
      { type: "cached", runId, hash: "a", outputs: {} },
      { type: "started", runId, hash: "b", buildId: 1, backend: "local" },
      { type: "started", runId, hash: "c", buildId: 2, backend: "local" },
      { type: "built", runId, hash: "b", buildId: 1, outputs: {} },
      { type: "failed", runId, hash: "c", buildId: 2, exitCode: 3, error: "builder exited with code 3", logTail: ["boom"] },
      { type: "run-finished", runId, status: "failed", built: 1, cached: 1, failed: 1 },
    ];
    useBuilds.getState().applyMany(events.slice(0, 4));
    expect(useBuilds.getState().run!.running.size).toBe(2);
    expect(useBuilds.getState().states).toEqual({ a: "cached", b: "building", c: "building" });
    useBuilds.getState().applyMany(events.slice(4));
    const s = useBuilds.getState();
    expect(s.states).toEqual({ a: "cached", b: "built", c: "failed" });
    expect(s.run).toMatchObject({ built: 1, cached: 1, failed: 1, status: "failed" });
    expect(s.failures.c!.exitCode).toBe(3);
    expect(s.buildIds).toEqual({ b: 1, c: 2 });
    // Rebuilding the failed node clears its failure.
    useBuilds.getState().apply({ type: "started", runId: "r2", hash: "c", buildId: 3, backend: "local" });
    expect(useBuilds.getState().failures.c).toBeUndefined();
  });

  it("maps events to states and formats figures", () => {
    expect(stateAfter({ type: "planned", runId: "r", hash: "h", backend: "local" })).toBe("queued");
    expect(stateAfter({ type: "log", runId: "r", hash: "h", buildId: 1, line: "x" })).toBeUndefined();
    expect(formatDuration(450)).toBe("450 ms");
    expect(formatDuration(12_300)).toBe("12 s");
    expect(formatDuration(125_000)).toBe("2 min 5 s");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(5 * 1024 * 1024)).toBe("5.0 MiB");
  });
});
