// The renderer's plain logic, without a browser: layout, graph lookups, and how build
// events move node states and the run's counts.
import { describe, expect, it } from "vitest";
import type { BuildEvent, Graph, GraphNode } from "../../core/api/schema.js";
import { indexGraph, reach } from "../../renderer/lib/graphIndex.js";
import { layeredFast, layoutGraph, NODE_WIDTH } from "../../renderer/lib/layout.js";
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
    const pos = layeredFast(diamond);
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
    const pos = layeredFast(g);
    expect(pos.get(`n${n - 1}`)!.x).toBeGreaterThan(pos.get("n0")!.x);
  });

  it("uses elk's layered algorithm for ordinary graphs, dependencies left", async () => {
    const pos = await layoutGraph(diamond);
    for (const e of diamond.edges) expect(pos.get(e.from)!.x).toBeLessThan(pos.get(e.to)!.x);
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
