// Past builds (status, duration, backend, system); any one's log opens in the log panel.
import { useEffect, useState } from "react";
import type { BuildRecord } from "../../core/api/schema";
import { api } from "../api/client";
import { onRunFinished } from "../actions";
import { BuildTable } from "./NodePanel";
import { useSelection } from "../stores/selection";

/** Builds grouped by the run they belong to, newest run first (builds arrive newest first). */
function groupByRun(builds: BuildRecord[]): [string, BuildRecord[]][] {
  const runs = new Map<string, BuildRecord[]>();
  for (const b of builds) {
    const key = b.runId || `build-${b.id}`;
    if (!runs.has(key)) runs.set(key, []);
    runs.get(key)!.push(b);
  }
  return [...runs];
}

/** How a run ended, from its builds (the service's record of the run, when it has one, says better: interrupted). */
function runStatus(group: BuildRecord[]): string {
  if (group.some((b) => b.status === "running")) return "running";
  if (group.some((b) => b.status === "failed")) return "failed";
  if (group.some((b) => b.status === "cancelled")) return "cancelled";
  return "built";
}

/** Show a past run in the run view (and name it in the URL). */
export function openRun(runId: string): void {
  const url = new URL(location.href);
  url.searchParams.set("run", runId);
  history.replaceState(null, "", url.href);
  useSelection.getState().setTab("run");
}

export function HistoryPanel() {
  const [builds, setBuilds] = useState<BuildRecord[] | null>(null);
  const [runs, setRuns] = useState<Map<string, string>>(new Map());
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => onRunFinished(() => setTick((t) => t + 1)), []);
  useEffect(() => {
    // Both before showing: a run's own record (interrupted) must not flash as its builds' status first.
    Promise.all([api.call("history.list", { limit: 200 }), api.call("build.runs", {}).catch(() => [])]).then(
      ([bs, rs]) => {
        setRuns(new Map(rs.map((r) => [r.runId, r.status])));
        setBuilds(bs);
      },
      (e: Error) => setError(e.message),
    );
  }, [tick]);
  return (
    <div className="history" data-testid="history-panel">
      <div className="np-title">
        <h2>History</h2>
        <button type="button" className="small" onClick={() => setTick((t) => t + 1)}>
          Refresh
        </button>
      </div>
      {error ? <p className="error">{error}</p> : null}
      {builds && builds.length === 0 ? <p className="muted">No builds yet.</p> : null}
      {groupByRun(builds ?? []).map(([runId, group]) => (
        <section key={runId} className="history-run" aria-label={`Run ${runId}`} data-testid={`history-run-${runId}`}>
          <div className="np-title">
            <h3>
              Run {runId.slice(0, 8)} · {new Date(group[group.length - 1]!.startedAt).toLocaleTimeString()} ·{" "}
              <span data-testid="history-run-status">{runs.get(runId) ?? runStatus(group)}</span>
            </h3>
            <button type="button" className="small" onClick={() => openRun(runId)}>
              Open run
            </button>
          </div>
          <BuildTable builds={group} />
        </section>
      ))}
    </div>
  );
}
