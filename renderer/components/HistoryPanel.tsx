// Past builds (status, duration, backend, system); any one's log opens in the log panel.
import { useEffect, useState } from "react";
import type { BuildRecord } from "../../core/api/schema";
import { api } from "../api/client";
import { onRunFinished } from "../actions";
import { BuildTable } from "./NodePanel";

export function HistoryPanel() {
  const [builds, setBuilds] = useState<BuildRecord[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => onRunFinished(() => setTick((t) => t + 1)), []);
  useEffect(() => {
    api.call("history.list", { limit: 200 }).then(setBuilds, (e: Error) => setError(e.message));
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
      {builds?.length ? <BuildTable builds={builds} /> : null}
    </div>
  );
}
