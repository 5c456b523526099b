// The selected derivation: its fields, outputs, dependencies and dependents, build history,
// log; and for a failed build the log tail, exit code, env, args, kept dir and shell command.
import { useEffect, useState } from "react";
import type { BuildRecord, DerivationDetails } from "../../core/api/schema";
import { api } from "../api/client";
import { onRunFinished, startBuild } from "../actions";
import { useBuilds } from "../stores/builds";
import { useGraph } from "../stores/graph";
import { useLogs } from "../stores/logs";
import { useSelection } from "../stores/selection";
import { formatBytes, formatDuration, STATE_LABEL } from "../lib/states";
import { indexGraph, reach, whyDepends } from "../lib/graphIndex";
import { AnsiLine, copyText } from "./LogPanel";
import { SourceView, type SourcePlace } from "./SourceView";

/** `file:line:col` as a place the source view can open. */
export function parsePlace(location: string): SourcePlace | null {
  const m = /^(.+?):(\d+)(?::(\d+))?$/.exec(location);
  return m ? { file: m[1]!, line: Number(m[2]), ...(m[3] ? { col: Number(m[3]) } : {}) } : null;
}

/** A place in a build file: a link that opens the file at that line. */
export function PlaceLink({ location, testId = "defined-at" }: { location: string; testId?: string }) {
  const [open, setOpen] = useState(false);
  const place = parsePlace(location);
  if (!place) return <code>{location}</code>;
  return (
    <>
      <button type="button" className="link mono" title="Open the file at this line" data-testid={testId} onClick={() => setOpen(true)}>
        {location}
      </button>
      {open ? <SourceView place={place} onClose={() => setOpen(false)} /> : null}
    </>
  );
}

/** `{{ <hash>:<out> }}` references as `<name>.<out>`, the way a reader knows the node. */
export function named(text: string, nameOf: (hash: string) => string | undefined): string {
  return text.replace(/\{\{ ?([0-9a-z]{32}):([A-Za-z0-9_-]+) ?\}\}/g, (m, h: string, o: string) => {
    const n = nameOf(h);
    return n ? `${n}.${o}` : m;
  });
}

function KeyValues({ values, label, nameOf }: { values: Record<string, string>; label: string; nameOf: (hash: string) => string | undefined }) {
  const keys = Object.keys(values).sort();
  if (!keys.length) return <p className="muted">none</p>;
  return (
    <table className="kv" aria-label={label}>
      <tbody>
        {keys.map((k) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td>
              <code title={values[k]}>{named(values[k]!, nameOf)}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="small"
      aria-label={label}
      onClick={async () => {
        setDone(await copyText(text));
        setTimeout(() => setDone(false), 1500);
      }}
    >
      {done ? "Copied" : "Copy"}
    </button>
  );
}

export function openBuildLog(b: BuildRecord) {
  void useLogs.getState().openBuild(b.id, `${b.name} #${b.id} (${b.status})`);
}

function NodeLink({ hash, name }: { hash: string; name: string }) {
  return (
    <button type="button" className="link" onClick={() => useSelection.getState().select(hash, { center: true })}>
      {name}
    </button>
  );
}

/** Why does this node depend on one of its (transitive) dependencies: every path is highlighted in the graph. */
function WhyDepends({ from, deps, nameOf }: { from: string; deps: string[]; nameOf: (h: string) => string | undefined }) {
  const why = useSelection((s) => s.why);
  const graph = useGraph((s) => s.graph);
  const to = why?.from === from ? why.to : "";
  const result = to && graph ? whyDepends(indexGraph(graph), from, to) : null;
  return (
    <div className="why" data-testid="why-depends">
      <label htmlFor="why-to">Why depends on</label>{" "}
      <select id="why-to" value={to} onChange={(e) => useSelection.getState().setWhy(e.target.value ? { from, to: e.target.value } : null)}>
        <option value="">(pick a dependency)</option>
        {[...deps]
          .sort((a, b) => (nameOf(a) ?? a).localeCompare(nameOf(b) ?? b))
          .map((h) => (
            <option key={h} value={h}>
              {nameOf(h) ?? h}
            </option>
          ))}
      </select>
      {result ? (
        <span className="muted small" data-testid="why-result">
          {" "}
          {result.paths === 1 ? "1 path" : `${result.paths} paths`} through {result.nodes.size} nodes, highlighted
        </span>
      ) : null}
    </div>
  );
}

export function NodePanel() {
  const selected = useSelection((s) => s.selected);
  const graph = useGraph((s) => s.graph);
  const inGraph = graph?.nodes.find((n) => n.hash === selected) ?? null;
  const liveState = useBuilds((s) => (selected ? s.states[selected] : undefined));
  const failure = useBuilds((s) => (selected ? s.failures[selected] : undefined));
  const running = useBuilds((s) => s.run?.status === "running");
  const [details, setDetails] = useState<DerivationDetails | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => onRunFinished(() => setTick((t) => t + 1)), []);
  useEffect(() => {
    setError(null);
    if (!selected) {
      setDetails(null);
      return;
    }
    let stale = false;
    api.call("derivation.get", { hash: selected }).then(
      (d) => !stale && setDetails(d),
      (e: Error) => !stale && (setDetails(null), setError(e.message)),
    );
    return () => {
      stale = true;
    };
  }, [selected, tick]);

  // A derivation from the history that is not in the graph shown now still opens here, from the store's record.
  const node = inGraph ?? (details?.node.hash === selected ? details.node : null);
  if (!selected || !node) return <p className="muted panel-empty">Select a node in the graph to see its derivation, outputs, dependencies and builds.</p>;
  const state = liveState ?? node.state;
  const d = details?.node.hash === selected ? details : null;
  const ix = graph ? indexGraph(graph) : null;
  const nameOf = (h: string) => ix?.byHash.get(h)?.name;
  const allDeps = ix && inGraph ? [...reach(node.hash, ix.deps)] : [];
  const allDependents = ix && inGraph ? [...reach(node.hash, ix.dependents)] : [];
  const byName = (a: string, b: string) => (nameOf(a) ?? a).localeCompare(nameOf(b) ?? b);
  const lastFailedBuild = d?.builds.find((b) => b.status === "failed");
  const failedNow = state === "failed";

  return (
    <div className="node-panel" data-testid="node-panel">
      <div className="np-title">
        <h2>{node.name}</h2>
        {inGraph ? null : (
          <>
            <span className="badge inline" data-testid="not-in-graph" title="from the build history: not in the graph shown now">
              not in this graph
            </span>
            <button type="button" className="small" onClick={() => void useGraph.getState().openDerivation(node.hash)}>
              Open in graph
            </button>
          </>
        )}
        <span className={`drv-state state-chip-${state}`}>{STATE_LABEL[state]}</span>
      </div>
      <div className="np-actions">
        <button type="button" className="primary" onClick={() => void startBuild({ only: [node.hash] })} disabled={running}>
          Rebuild node
        </button>
        <button type="button" onClick={() => useLogs.getState().setSource({ kind: "node", hash: node.hash })}>
          Show live log
        </button>
        {inGraph ? (
          <button
            type="button"
            onClick={() => useSelection.getState().setFocus({ hash: node.hash, hops: 1 })}
            title="Show only this node and its neighbours, one hop away"
          >
            Focus
          </button>
        ) : null}
      </div>

      {failedNow || failure ? (
        <section className="failure" aria-label="Failure" data-testid="failure">
          <h3>Build failed</h3>
          <dl className="facts">
            <dt>Exit code</dt>
            <dd data-testid="exit-code">{failure?.exitCode ?? lastFailedBuild?.exitCode ?? "—"}</dd>
            <dt>Error</dt>
            <dd>{failure?.error ?? lastFailedBuild?.error ?? "—"}</dd>
            {(failure?.keptDir ?? lastFailedBuild?.keptDir) ? (
              <>
                <dt>Kept build dir</dt>
                <dd>
                  <code>{failure?.keptDir ?? lastFailedBuild?.keptDir}</code>
                </dd>
              </>
            ) : null}
            {d?.shellCommand ? (
              <>
                <dt>Sandbox shell</dt>
                <dd className="with-copy">
                  <code data-testid="shell-command">{d.shellCommand}</code>
                  <CopyButton text={d.shellCommand} label="Copy shell command" />
                </dd>
              </>
            ) : null}
          </dl>
          {failure?.logTail.length ? (
            <>
              <h4>Log tail</h4>
              <pre className="log-tail" data-testid="log-tail" ref={(el) => el?.scrollTo({ top: el.scrollHeight })}>
                {failure.logTail.map((l, i) => (
                  <div key={i}>
                    <AnsiLine text={l} />
                  </div>
                ))}
              </pre>
            </>
          ) : lastFailedBuild ? (
            <button type="button" onClick={() => openBuildLog(lastFailedBuild)}>
              Open failed log
            </button>
          ) : null}
          <button type="button" className="primary" onClick={() => void startBuild({ only: [node.hash], keepFailed: true })} disabled={running}>
            Rebuild just this node
          </button>
        </section>
      ) : null}

      <section aria-label="Derivation">
        <h3>Derivation</h3>
        <dl className="facts">
          <dt>Hash</dt>
          <dd className="with-copy">
            <code>{node.hash}</code>
            <CopyButton text={node.hash} label="Copy hash" />
          </dd>
          <dt>Builder</dt>
          <dd>
            <code title={node.builder}>{named(node.builder, nameOf)}</code>
          </dd>
          <dt>Backend</dt>
          <dd>{node.backend ?? <span className="warn">{node.planError ?? "none can build it"}</span>}</dd>
          <dt>Platform</dt>
          <dd>{node.platform}</dd>
          <dt>System</dt>
          <dd>
            {node.system}
            {node.platform !== node.system ? <span className="badge cross inline">cross-compiled</span> : null}
          </dd>
          {node.location ? (
            <>
              <dt>Defined at</dt>
              <dd>
                <PlaceLink location={node.location} />
              </dd>
            </>
          ) : null}
        </dl>
        <h4>Args</h4>
        {node.args.length ? (
          <ol className="args">
            {node.args.map((a, i) => (
              <li key={i}>
                <code title={a}>{named(a, nameOf)}</code>
              </li>
            ))}
          </ol>
        ) : (
          <p className="muted">none</p>
        )}
        <h4>Env</h4>
        <KeyValues values={node.env} label="Environment" nameOf={nameOf} />
      </section>

      <section aria-label="Outputs">
        <h3>Outputs</h3>
        {d?.closure ? (
          <p data-testid="closure-size" data-size={d.closure.size} data-paths={d.closure.paths} data-added={d.closure.added}>
            Closure <strong>{formatBytes(d.closure.size)}</strong> in {d.closure.paths} {d.closure.paths === 1 ? "path" : "paths"} · adds{" "}
            <strong>{formatBytes(d.closure.added)}</strong> over its dependencies
          </p>
        ) : null}
        {d?.outputs.length ? (
          <ul className="outputs">
            {d.outputs.map((o) => (
              <li key={o.name}>
                <div>
                  <strong>{o.name}</strong>{" "}
                  <span className="muted" data-bytes={o.size}>
                    {formatBytes(o.size)}
                  </span>
                </div>
                <code className="path">{o.path}</code>
                {o.references.length ? (
                  <details>
                    <summary>{o.references.length} references</summary>
                    <ul>
                      {o.references.map((r) => (
                        <li key={r}>
                          <code>{r}</code>
                        </li>
                      ))}
                    </ul>
                  </details>
                ) : (
                  <div className="muted">no references</div>
                )}
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted">{node.outputs.join(", ")} — not in the store yet</p>
        )}
      </section>

      <section aria-label="Dependencies">
        <h3>Dependencies ({d?.dependencies.length ?? "…"})</h3>
        <ul className="links">
          {d?.dependencies.map((x) => (
            <li key={x.hash}>
              <NodeLink {...x} />
            </li>
          ))}
        </ul>
        <h3>Dependents ({d?.dependents.length ?? "…"})</h3>
        <ul className="links">
          {d?.dependents.map((x) => (
            <li key={x.hash}>
              <NodeLink {...x} />
            </li>
          ))}
        </ul>
        {inGraph && ix && allDeps.length ? <WhyDepends from={node.hash} deps={allDeps} nameOf={nameOf} /> : null}
        {inGraph ? (
          <>
            <details data-testid="all-deps">
              <summary>All dependencies, transitively ({allDeps.length})</summary>
              <ul className="links">
                {allDeps.sort(byName).map((h) => (
                  <li key={h}>
                    <NodeLink hash={h} name={nameOf(h) ?? h} />
                  </li>
                ))}
              </ul>
            </details>
            <details data-testid="all-dependents">
              <summary>All dependents, transitively ({allDependents.length})</summary>
              <ul className="links">
                {allDependents.sort(byName).map((h) => (
                  <li key={h}>
                    <NodeLink hash={h} name={nameOf(h) ?? h} />
                  </li>
                ))}
              </ul>
            </details>
          </>
        ) : null}
      </section>

      {d?.remote ? (
        <section aria-label="Remote execution" data-testid="remote-facts">
          <h3>Remote execution</h3>
          <dl className="facts">
            <dt>Action</dt>
            <dd className="with-copy">
              <code>{d.remote.actionDigest}</code>
              <CopyButton text={d.remote.actionDigest} label="Copy action digest" />
            </dd>
            {d.remote.endpoint ? (
              <>
                <dt>Service</dt>
                <dd>
                  <code>{d.remote.endpoint}</code>
                </dd>
              </>
            ) : null}
            <dt>Result</dt>
            <dd>{d.remote.cached ? "cached (remote)" : "executed"}</dd>
            <dt>Worker</dt>
            <dd>
              <code>{d.remote.worker ?? "unknown"}</code>
            </dd>
            <dt>Timings</dt>
            <dd>
              {[
                ["queued", d.remote.queuedMs],
                ["inputs", d.remote.inputsMs],
                ["executing", d.remote.executionMs],
                ["outputs", d.remote.outputsMs],
              ]
                .map(([k, v]) => `${k} ${v === undefined ? "?" : `${v} ms`}`)
                .join(", ")}
            </dd>
          </dl>
        </section>
      ) : null}

      <section aria-label="Build history">
        <h3>Builds</h3>
        {d?.builds.length ? <BuildTable builds={d.builds} compact /> : <p className="muted">never built here</p>}
      </section>
      {error ? <p className="error">{error}</p> : null}
    </div>
  );
}

export function BuildTable({ builds, compact }: { builds: BuildRecord[]; compact?: boolean }) {
  return (
    <table className="builds" data-testid="build-table">
      <thead>
        <tr>
          {compact ? null : <th scope="col">Name</th>}
          <th scope="col">Status</th>
          <th scope="col">Time</th>
          <th scope="col">Backend · system</th>
          <th scope="col">
            <span className="sr-only">Log</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {builds.map((b) => (
          <tr key={b.id} className={`build-${b.status}`}>
            {compact ? null : (
              <td className="name">
                <button type="button" className="link" onClick={() => useSelection.getState().select(b.drvHash, { center: true })}>
                  {b.name}
                </button>
              </td>
            )}
            <td>
              <span className={`drv-state state-chip-${b.status}`}>{b.status}</span>
              {b.exitCode != null && b.status === "failed" ? <span className="muted"> ({b.exitCode})</span> : null}
            </td>
            <td>
              <div>{b.endedAt ? formatDuration(b.endedAt - b.startedAt) : "running"}</div>
              <time className="muted small" dateTime={new Date(b.startedAt).toISOString()} title={new Date(b.startedAt).toLocaleString()}>
                {new Date(b.startedAt).toLocaleTimeString()}
              </time>
            </td>
            <td>
              <div>{b.backend}</div>
              <div className="muted small mono">{b.system}</div>
            </td>
            <td>
              <button type="button" className="small" onClick={() => openBuildLog(b)} aria-label={`Open log of ${b.name} build ${b.id}`}>
                Log
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
