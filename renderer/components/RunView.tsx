// One run, like BuildBuddy's invocation page and nom's tree: failures first, what is running
// (with its timer and last log line), what was skipped because a dependency failed (apart from
// what was cancelled), and after it ends a timing chart with the critical path marked.
// The run comes from this page's live run, from the service's runs (a reload), or from the
// build history (a restarted service): ?run=ID opens it.
import { useEffect, useMemo, useState } from "react";
import type { BuildRecord, NodeState } from "../../core/api/schema";
import { api } from "../api/client";
import { onRunFinished } from "../actions";
import { useBuilds, type RunNode } from "../stores/builds";
import { useGraph } from "../stores/graph";
import { useLogs } from "../stores/logs";
import { useSelection } from "../stores/selection";
import { indexGraph, reach } from "../lib/graphIndex";
import { formatDuration } from "../lib/states";
import { AnsiLine } from "./LogPanel";

export type RunClass = "failed" | "running" | "skipped" | "cancelled" | "built" | "cached" | "queued";

export interface RunEntry extends RunNode {
  hash: string;
  name: string;
  cls: RunClass;
}

export function runParam(): string | null {
  return new URLSearchParams(location.search).get("run");
}

/** Split a run's nodes by state; skipped (a dependency failed) is the scheduler's, recorded in the history, apart from cancelled. */
export function classify(nodes: Record<string, RunNode>, nameOf: (h: string) => string): RunEntry[] {
  return Object.entries(nodes).map(([hash, n]) => {
    let cls: RunClass;
    if (n.state === "failed" || n.state === "skipped" || n.state === "cancelled") cls = n.state;
    else if (n.state === "building") cls = "running";
    else if (n.state === "built" || n.state === "cached") cls = n.state;
    else cls = "queued";
    return { ...n, hash, name: n.name ?? nameOf(hash), cls };
  });
}

/** The chain of nodes, one depending on the next, whose build times add up the most: what bounded the run's length. */
export function criticalPath(entries: RunEntry[], depsOf: (h: string) => Set<string>, directDeps: (h: string) => string[]): string[] {
  const timed = new Map(entries.filter((e) => e.start !== undefined && e.end !== undefined).map((e) => [e.hash, e.end! - e.start!]));
  const finish = new Map<string, number>();
  const via = new Map<string, string | null>();
  const visit = (h: string): number => {
    const known = finish.get(h);
    if (known !== undefined) return known;
    let best = 0;
    let from: string | null = null;
    for (const d of directDeps(h)) {
      // a dependency outside this run's timed nodes still passes its own dependencies' time on
      const f = visit(d);
      if (f > best) {
        best = f;
        from = d;
      }
    }
    const total = best + (timed.get(h) ?? 0);
    finish.set(h, total);
    via.set(h, from);
    return total;
  };
  let end: string | null = null;
  let longest = -1;
  for (const h of timed.keys()) {
    const f = visit(h);
    if (f > longest) {
      longest = f;
      end = h;
    }
  }
  void depsOf;
  const path: string[] = [];
  for (let h = end; h; h = via.get(h) ?? null) if (timed.has(h)) path.unshift(h);
  return path;
}

function fromHistory(records: BuildRecord[]): Record<string, RunNode> {
  const nodes: Record<string, RunNode> = {};
  // oldest first, so a node's last attempt in the run wins
  for (const b of [...records].reverse()) {
    const state: NodeState = b.status === "running" ? "building" : b.status;
    // A skipped node never ran: no bar in the timing chart (as in the live view).
    const times = b.status === "skipped" ? {} : { start: b.startedAt, end: b.endedAt ?? undefined };
    nodes[b.drvHash] = { state, name: b.name, ...times, error: b.error ?? undefined, exitCode: b.exitCode };
  }
  return nodes;
}

function useNow(active: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

export function RunView() {
  const live = useBuilds((s) => s.run);
  const graph = useGraph((s) => s.graph);
  const logsVersion = useLogs((s) => s.version);
  const [wanted, setWanted] = useState<string | null>(runParam());
  const [past, setPast] = useState<{ runId: string; nodes: Record<string, RunNode>; status: string } | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => onRunFinished(() => setTick((t) => t + 1)), []);
  // The page's URL names the run; a new build names its own.
  useEffect(() => {
    const onUrl = () => setWanted(runParam());
    const t = setInterval(onUrl, 500);
    return () => clearInterval(t);
  }, []);
  const runId = wanted ?? live?.runId ?? null;
  // A run this page followed (or took over while it ran) has its own timings; an ended run the page did not see comes from the history.
  const isLive = !!live && live.runId === runId && (live.status === "running" || Object.values(live.nodes).some((n) => n.start !== undefined));

  useEffect(() => {
    if (!runId || isLive) return;
    let stale = false;
    // A restarted service knows the run only from the history of its builds.
    // How it ended is the service's record of the run (interrupted: the service died while it ran).
    Promise.all([api.call("history.list", { limit: 2000 }), api.call("build.run", { runId }).catch(() => null)]).then(
      ([records, summary]) => {
        if (stale) return;
        const mine = records.filter((b) => b.runId === runId);
        const st =
          summary?.status ??
          (mine.some((b) => b.status === "failed")
            ? "failed"
            : mine.some((b) => b.status === "running")
              ? "running"
              : mine.some((b) => b.status === "cancelled")
                ? "cancelled"
                : "built");
        setPast({ runId, nodes: fromHistory(mine), status: st });
      },
      () => {},
    );
    return () => {
      stale = true;
    };
  }, [runId, isLive, tick]);

  const nodes = isLive ? live!.nodes : past?.runId === runId ? past.nodes : null;
  const status = isLive ? live!.status : (past?.status ?? "unknown");
  const running = status === "running";
  const now = useNow(running);
  const ix = graph ? indexGraph(graph) : null;
  const depsOf = useMemo(() => {
    const cache = new Map<string, Set<string>>();
    return (h: string) => {
      let s = cache.get(h);
      if (!s) cache.set(h, (s = ix ? reach(h, ix.deps) : new Set()));
      return s;
    };
  }, [ix]);
  const nameOf = (h: string) => ix?.byHash.get(h)?.name ?? h.slice(0, 8);
  const entries = nodes ? classify(nodes, nameOf) : [];
  const by = (c: RunClass) => entries.filter((e) => e.cls === c).sort((a, b) => a.name.localeCompare(b.name));
  const start = isLive ? live!.startedAt : Math.min(...entries.map((e) => e.start ?? Infinity));
  const end = isLive ? (live!.endedAt ?? now) : Math.max(...entries.map((e) => e.end ?? -Infinity));
  const critical = useMemo(
    () => (running || !entries.length ? [] : criticalPath(entries, depsOf, (h) => ix?.deps.get(h) ?? [])),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [running, nodes, ix],
  );
  void logsVersion;

  if (!runId) return <p className="muted panel-empty">No run yet. Build to see its run here.</p>;
  if (!nodes) return <p className="muted panel-empty">Loading run {runId}…</p>;
  const select = (h: string) => useSelection.getState().select(h, { center: true });
  const lastLine = (h: string) => {
    const lines = useLogs.getState().byNode.get(h);
    return lines?.length ? lines[lines.length - 1]!.text : "";
  };
  const list = (c: RunClass, title: string, render: (e: RunEntry) => React.ReactNode) => {
    const xs = by(c);
    if (!xs.length) return null;
    return (
      <section aria-label={title} data-testid={`run-${c}`}>
        <h3>
          {title} ({xs.length})
        </h3>
        <ul className="run-list">
          {xs.map((e) => (
            <li key={e.hash} data-testid={`run-${c}-${e.name}`}>
              <button type="button" className="link" onClick={() => select(e.hash)}>
                {e.name}
              </button>{" "}
              {render(e)}
            </li>
          ))}
        </ul>
      </section>
    );
  };
  const critSet = new Set(critical);
  const span = Math.max(1, end - start);
  const timed = entries.filter((e) => e.start !== undefined).sort((a, b) => a.start! - b.start!);

  return (
    <div className="run-view" data-testid="run-view" data-run={runId} data-status={status}>
      <div className="np-title">
        <h2>Run {runId.slice(0, 8)}</h2>
        <span className={`drv-state state-chip-${status}`} data-testid="run-status">
          {status}
        </span>
      </div>
      <p className="muted small">
        {entries.length} nodes · {by("built").length} built · {by("cached").length} cached · {by("failed").length} failed · {by("skipped").length} skipped ·{" "}
        {by("cancelled").length} cancelled{Number.isFinite(span) ? ` · ${formatDuration(span)}` : ""}
      </p>
      {list("failed", "Failed", (e) => (
        <span className="muted small">
          {e.exitCode != null ? `exit ${e.exitCode}` : ""} {e.error}
        </span>
      ))}
      {list("running", "Running", (e) => (
        <>
          <span className="mono small" data-testid="run-timer">
            {formatDuration(now - (e.start ?? now))}
          </span>
          <div className="run-last-line mono small">
            <AnsiLine text={lastLine(e.hash)} />
          </div>
        </>
      ))}
      {list("skipped", "Skipped (a dependency failed)", () => null)}
      {list("cancelled", "Cancelled", () => null)}
      {list("queued", "Waiting", () => null)}
      {!running && timed.length ? (
        <section aria-label="Timing" data-testid="run-timing">
          <h3>Timing</h3>
          <p className="muted small">The critical path (outlined) is the chain of builds that set the run's length.</p>
          <ul className="timing">
            {timed.map((e) => (
              <li key={e.hash} data-testid={`timing-${e.name}`} data-critical={critSet.has(e.hash) ? "true" : undefined}>
                <span className="timing-name">{e.name}</span>
                <span className="timing-track">
                  <span
                    className={`timing-bar cls-${e.cls}${critSet.has(e.hash) ? " critical" : ""}`}
                    style={{ left: `${((e.start! - start) / span) * 100}%`, width: `${Math.max(0.5, (((e.end ?? end) - e.start!) / span) * 100)}%` }}
                    title={`${e.name}: ${formatDuration((e.end ?? end) - e.start!)}`}
                  />
                </span>
                <span className="timing-dur mono small">{formatDuration((e.end ?? end) - e.start!)}</span>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {list("built", "Built", () => null)}
      {list("cached", "Cached", () => null)}
    </div>
  );
}
