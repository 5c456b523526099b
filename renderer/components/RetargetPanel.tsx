// Retarget: pick a system, see which nodes change and what would rebuild on which backend,
// then build it in one click. Systems no backend can build are flagged before anything runs.
import { targetChoices, useGraph } from "../stores/graph";
import { useBuilds } from "../stores/builds";
import { useSelection } from "../stores/selection";
import { startBuild } from "../actions";

export function RetargetPanel() {
  const info = useGraph((s) => s.info);
  const backends = useGraph((s) => s.backends);
  const target = useGraph((s) => s.target);
  const diff = useGraph((s) => s.diff);
  const loading = useGraph((s) => s.loading);
  const running = useBuilds((s) => s.run?.status === "running");
  const choices = targetChoices(info, backends);
  const current = target || info?.host || "";

  const states = useBuilds((s) => s.states);
  // The summary follows builds: what has been built (or found cached) since no longer "would build".
  const rebuild = diff?.rebuild.filter((r) => states[r.hash] !== "built" && states[r.hash] !== "cached") ?? [];
  const byBackend = new Map<string, number>();
  const blocked = rebuild.filter((r) => !r.backend);
  for (const r of rebuild) if (r.backend) byBackend.set(r.backend, (byBackend.get(r.backend) ?? 0) + 1);
  const offered = choices.includes(current);

  return (
    <div className="retarget" data-testid="retarget-panel">
      <h2>Retarget</h2>
      <p className="muted">Evaluate the function for another system and see what would rebuild before anything runs.</p>
      <div className="chips" role="group" aria-label="Target systems">
        {choices.map((t) => (
          <button
            key={t}
            type="button"
            className={`chip ${t === current ? "active" : ""}`}
            aria-pressed={t === current}
            onClick={() => void useGraph.getState().setTarget(t === info?.host ? "" : t)}
          >
            {t}
            {t === info?.host ? <span className="muted"> (host)</span> : null}
          </button>
        ))}
      </div>
      <h3>Backends</h3>
      <ul className="backends">
        {backends.map((b) => (
          <li key={b.name} className={b.available ? "" : "unavailable"}>
            <strong>{b.name}</strong> <span className="muted">{b.kind}</span> — {b.platforms.join(", ") || "no platforms"}
            {!b.available ? <span className="warn"> unavailable{b.reason ? `: ${b.reason}` : ""}</span> : null}
          </li>
        ))}
      </ul>
      {!offered && current ? <p className="warn">No backend offers {current}; derivations built on it cannot be planned.</p> : null}
      {loading ? <p role="status">Evaluating for {current}…</p> : null}
      {diff ? (
        <section aria-label="Retarget summary" data-testid="retarget-summary">
          <h3>
            {diff.from.target || diff.from.host} → {diff.to.target}
          </h3>
          <p>
            <strong data-testid="changed-count">{diff.changed.length}</strong> nodes change, {diff.unchanged.length} stay the same.
          </p>
          <p>
            <strong data-testid="rebuild-count">{rebuild.length}</strong> would build:
            {[...byBackend].map(([b, n]) => (
              <span key={b} className="badge inline">
                {n} on {b}
              </span>
            ))}
          </p>
          {blocked.length ? (
            <div className="warn" role="alert" data-testid="retarget-blocked">
              <strong>{blocked.length} cannot be built:</strong>
              <ul>
                {blocked.map((r) => (
                  <li key={r.hash}>
                    {r.name}: {r.reason ?? "no backend offers its platform"}
                  </li>
                ))}
              </ul>
            </div>
          ) : null}
          <ul className="links">
            {rebuild.slice(0, 200).map((r) => (
              <li key={r.hash}>
                <button type="button" className="link" onClick={() => useSelection.getState().select(r.hash, { center: true })}>
                  {r.name}
                </button>{" "}
                <span className="muted">{r.backend ?? "—"}</span>
              </li>
            ))}
          </ul>
          <button type="button" className="primary" disabled={running || blocked.length > 0} onClick={() => void startBuild()}>
            Build for {diff.to.target}
          </button>
          <button type="button" onClick={() => void useGraph.getState().setTarget("")}>
            Back to host
          </button>
        </section>
      ) : null}
    </div>
  );
}
