// Build runs and the live state of each node, fed by the service's event stream.
import { create } from "zustand";
import type { BuildEvent, NodeState, RunSummary } from "../../core/api/schema";
import { stateAfter } from "../lib/states";

export type FailedEvent = Extract<BuildEvent, { type: "failed" }>;

export interface Run {
  runId: string;
  total: number;
  built: number;
  cached: number;
  failed: number;
  cancelled: number;
  /** nodes that did not run because a dependency failed */
  skipped: number;
  running: Set<string>;
  startedAt: number;
  endedAt: number | null;
  /** interrupted: the service that ran it died (a restart) */
  status: "running" | "built" | "failed" | "cancelled" | "interrupted";
  /** this run's nodes: state, when each started and ended (for the run view's timers and chart) */
  nodes: Record<string, RunNode>;
}

export interface RunNode {
  state: NodeState;
  name?: string;
  start?: number;
  end?: number;
  error?: string;
  exitCode?: number | null;
}

export interface BuildsStore {
  /** live states by derivation hash; override the state the evaluation reported */
  states: Record<string, NodeState>;
  /** the latest failure of each node */
  failures: Record<string, FailedEvent>;
  /** latest build id of each node */
  buildIds: Record<string, number>;
  run: Run | null;
  /** a build.start request is on its way */
  starting: boolean;
  /** keep failed builds' directories (--keep-failed) */
  keepFailed: boolean;
  setKeepFailed(v: boolean): void;
  /** go on with what does not depend on a failure (--keep-going) */
  keepGoing: boolean;
  setKeepGoing(v: boolean): void;
  apply(e: BuildEvent): void;
  applyMany(es: BuildEvent[]): void;
  clearStates(): void;
  /** a reloaded page takes over a run the service reports (running or ended) */
  attach(r: RunSummary): void;
  setStarting(v: boolean): void;
}

function step(s: BuildsStore, e: BuildEvent): Partial<BuildsStore> {
  let run = s.run;
  if (e.type === "run-started") {
    const states = { ...s.states };
    const nodes: Record<string, RunNode> = {};
    for (const n of e.nodes) {
      states[n.hash] = "queued";
      nodes[n.hash] = { state: "queued", name: n.name };
    }
    return {
      states,
      starting: false,
      run: {
        runId: e.runId,
        total: e.total,
        built: 0,
        cached: 0,
        failed: 0,
        cancelled: 0,
        skipped: 0,
        running: new Set(),
        startedAt: Date.now(),
        endedAt: null,
        status: "running",
        nodes,
      },
    };
  }
  if (run && run.runId === e.runId) {
    run = { ...run, running: new Set(run.running) };
    if ("hash" in e && e.type !== "log" && e.type !== "planned") {
      const now = Date.now();
      const prev = run.nodes[e.hash] ?? { state: "queued" as NodeState };
      const st = stateAfter(e) ?? prev.state;
      run.nodes = {
        ...run.nodes,
        [e.hash]: {
          ...prev,
          state: st,
          ...(e.type === "started" ? { start: now } : {}),
          ...(e.type === "built" || e.type === "failed" || e.type === "cancelled" ? { end: now } : {}),
          ...(e.type === "cached" ? { start: prev.start ?? now, end: now } : {}),
          ...(e.type === "failed" ? { error: e.error, exitCode: e.exitCode } : {}),
          ...(e.type === "skipped" ? { error: e.error } : {}),
        },
      };
    }
    switch (e.type) {
      case "started":
        run.running.add(e.hash);
        break;
      case "built":
        run.running.delete(e.hash);
        run.built++;
        break;
      case "cached":
        run.cached++;
        break;
      case "failed":
        run.running.delete(e.hash);
        run.failed++;
        break;
      case "cancelled":
        run.running.delete(e.hash);
        run.cancelled++;
        break;
      case "skipped":
        run.skipped++;
        break;
      case "run-finished":
        run.status = e.status;
        run.endedAt = Date.now();
        run.running = new Set();
        break;
    }
  }
  const next: Partial<BuildsStore> = { run };
  const st = stateAfter(e);
  if (st && "hash" in e) next.states = { ...s.states, [e.hash]: st };
  if (e.type === "failed") next.failures = { ...s.failures, [e.hash]: e };
  if (e.type === "started" || e.type === "built") next.buildIds = { ...s.buildIds, [e.hash]: e.buildId };
  if (e.type === "started" && s.failures[e.hash]) {
    const { [e.hash]: _, ...rest } = s.failures;
    next.failures = rest;
  }
  if (e.type === "run-finished") next.starting = false;
  return next;
}

export const useBuilds = create<BuildsStore>((set) => ({
  states: {},
  failures: {},
  buildIds: {},
  run: null,
  starting: false,
  keepFailed: false,
  setKeepFailed: (keepFailed) => set({ keepFailed }),
  keepGoing: false,
  setKeepGoing: (keepGoing) => set({ keepGoing }),
  apply: (e) => set((s) => step(s, e)),
  applyMany: (es) =>
    set((s) => {
      let cur: BuildsStore = s;
      for (const e of es) cur = { ...cur, ...step(cur, e) };
      return cur;
    }),
  clearStates: () => set({ states: {} }),
  attach: (r) =>
    set((s) => {
      const values = Object.values(r.states);
      const running = new Set(Object.keys(r.states).filter((h) => r.states[h] === "building"));
      return {
        states: { ...s.states, ...r.states },
        run: {
          runId: r.runId,
          total: Math.max(values.length, running.size),
          built: values.filter((v) => v === "built").length,
          cached: values.filter((v) => v === "cached").length,
          failed: values.filter((v) => v === "failed").length,
          cancelled: values.filter((v) => v === "cancelled").length,
          skipped: values.filter((v) => v === "skipped").length,
          running,
          startedAt: r.startedAt,
          endedAt: r.endedAt ?? null,
          status: r.status,
          nodes: Object.fromEntries(Object.entries(r.states).map(([h, st]) => [h, { state: st }])),
        },
      };
    }),
  setStarting: (starting) => set({ starting }),
}));

export const isRunning = (s: BuildsStore) => s.run?.status === "running";
