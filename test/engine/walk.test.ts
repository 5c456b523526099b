// The graph walk on its own: plain functions as nodes, no sandbox, no store. Each node's run
// is a promise the test settles by hand, so every order is the test's, not a timer's.
import { describe, expect, it } from "vitest";
import { walkGraph, type NodeStatus } from "../../core/build/walk.js";

/** a → b → d, a → c → d (d needs b and c; b and c need a), and e alone. */
const DEPS: Record<string, string[]> = { a: [], b: ["a"], c: ["a"], d: ["b", "c"], e: [] };

function harness(opts: { jobs: number; keepGoing?: boolean; signal?: AbortSignal }) {
  const started: string[] = [];
  const pending = new Map<string, { settle: (s: NodeStatus) => void; fail: (e: Error) => void; signal: AbortSignal }>();
  let running = 0;
  let maxRunning = 0;
  const skipped: string[] = [];
  const errors: string[] = [];
  const walk = walkGraph({
    nodes: Object.keys(DEPS),
    deps: (n) => DEPS[n]!,
    jobs: opts.jobs,
    keepGoing: opts.keepGoing,
    signal: opts.signal,
    run: (n, signal) =>
      new Promise<NodeStatus>((resolve, reject) => {
        started.push(n);
        running++;
        maxRunning = Math.max(maxRunning, running);
        const done = () => {
          running--;
          pending.delete(n);
        };
        pending.set(n, { settle: (s) => (done(), resolve(s)), fail: (e) => (done(), reject(e)), signal });
      }),
    onSkipped: (n, dep) => skipped.push(`${n} (${dep})`),
    onError: (n, e) => errors.push(`${n}: ${(e as Error).message}`),
  });
  /** let the walk react to what was settled */
  const tick = () => new Promise((r) => setImmediate(r));
  const settle = async (n: string, s: NodeStatus) => {
    pending.get(n)!.settle(s);
    await tick();
  };
  return { walk, started, pending, skipped, errors, settle, tick, max: () => maxRunning };
}

describe("the graph walk", () => {
  it("runs each node after its dependencies, at most `jobs` at once, from a ready queue", async () => {
    const h = harness({ jobs: 2 });
    await h.tick();
    expect(h.started).toEqual(["a", "e"]);
    await h.settle("a", "built");
    expect(h.started).toEqual(["a", "e", "b"]);
    await h.settle("e", "cached");
    expect(h.started).toEqual(["a", "e", "b", "c"]);
    await h.settle("b", "built");
    expect(h.started).toEqual(["a", "e", "b", "c"]); // d still waits for c
    await h.settle("c", "built");
    expect(h.started).toEqual(["a", "e", "b", "c", "d"]);
    await h.settle("d", "built");
    const r = await h.walk;
    expect(h.max()).toBe(2);
    expect(Object.fromEntries(r.status)).toEqual({ a: "built", e: "cached", b: "built", c: "built", d: "built" });
    expect(r.failed).toEqual([]);
    expect(r.notRun).toEqual([]);
  });

  it("the first failure stops the walk: running nodes see their signal abort, its dependents are skipped, the rest is left not run", async () => {
    const h = harness({ jobs: 2 });
    await h.tick();
    await h.settle("a", "built"); // b starts beside e
    expect([...h.pending.keys()].sort()).toEqual(["b", "e"]);
    await h.settle("b", "failed");
    expect(h.pending.get("e")!.signal.aborted).toBe(true);
    await h.settle("e", "cancelled");
    const r = await h.walk;
    expect(h.started).toEqual(["a", "e", "b"]);
    expect(r.failed).toEqual(["b"]);
    // d needs b: skipped (distinct from c, which needs nothing that failed: it just never ran).
    expect(h.skipped).toEqual(["d (b)"]);
    expect(r.status.get("d")).toBe("skipped");
    expect([...r.skipped]).toEqual([["d", "b"]]);
    expect(r.notRun).toEqual(["c"]);
  });

  it("keep-going skips what depends on a failure, naming it, and runs the rest", async () => {
    const h = harness({ jobs: 1, keepGoing: true });
    await h.tick();
    await h.settle("a", "built");
    await h.settle("e", "built");
    await h.settle("b", "failed");
    expect(h.skipped).toEqual(["d (b)"]);
    await h.settle("c", "built");
    const r = await h.walk;
    expect(h.started).toEqual(["a", "e", "b", "c"]);
    expect(r.failed).toEqual(["b"]);
    expect(r.status.get("d")).toBe("skipped");
    expect([...r.skipped]).toEqual([["d", "b"]]);
    expect(r.notRun).toEqual([]);
  });

  it("cancelling starts nothing new and tells the running nodes; a node that throws is an error that stops the walk", async () => {
    const stop = new AbortController();
    const h = harness({ jobs: 2, signal: stop.signal });
    await h.tick();
    stop.abort();
    expect(h.pending.get("a")!.signal.aborted).toBe(true);
    await h.settle("a", "cancelled");
    await h.settle("e", "cancelled");
    const r = await h.walk;
    expect(h.started).toEqual(["a", "e"]);
    expect(r.notRun.sort()).toEqual(["b", "c", "d"]);

    const t = harness({ jobs: 1 });
    await t.tick();
    t.pending.get("a")!.fail(new Error("a bug"));
    const r2 = await t.walk;
    expect(t.errors).toEqual(["a: a bug"]);
    expect(r2.failed).toEqual(["a"]);
    expect([...r2.skipped.keys()].sort()).toEqual(["b", "c", "d"]);
    expect(r2.notRun).toEqual(["e"]);
  });
});
