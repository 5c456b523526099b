// Project, function and target choosers; Build / Cancel; the overall progress bar.
import { useEffect, useState } from "react";
import { moduleArgs, targetChoices, useGraph } from "../stores/graph";
import { useBuilds } from "../stores/builds";
import { useSelection } from "../stores/selection";
import { startBuild, cancelBuild } from "../actions";
import { desktop } from "../api/client";
import { formatDuration } from "../lib/states";

function Elapsed({ from, to }: { from: number; to: number | null }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (to) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [to]);
  return <>{formatDuration((to ?? now) - from)}</>;
}

export function Progress() {
  const run = useBuilds((s) => s.run);
  const starting = useBuilds((s) => s.starting);
  if (!run)
    return (
      <div className="progress idle" data-testid="progress">
        {starting ? "Starting…" : "No build yet"}
      </div>
    );
  const done = run.built + run.cached + run.failed + run.cancelled + run.skipped;
  const pct = run.total ? Math.round((done / run.total) * 100) : 100;
  return (
    <div className={`progress status-${run.status}`} data-testid="progress" data-status={run.status}>
      <progress max={run.total || 1} value={done} aria-label="Build progress" />
      <span className="progress-text" aria-live="polite">
        {done}/{run.total} done · {run.running.size} running
        {run.failed ? ` · ${run.failed} failed` : ""}
        {run.skipped ? ` · ${run.skipped} skipped` : ""} · <Elapsed from={run.startedAt} to={run.endedAt} />
        {run.status !== "running" ? ` · ${run.status}` : ` · ${pct}%`}
      </span>
    </div>
  );
}

export function Toolbar() {
  const project = useGraph((s) => s.project);
  const projectInfo = useGraph((s) => s.projectInfo);
  const recent = useGraph((s) => s.recent);
  const moduleArg = useGraph((s) => s.moduleArg);
  const target = useGraph((s) => s.target);
  const info = useGraph((s) => s.info);
  const backends = useGraph((s) => s.backends);
  const graph = useGraph((s) => s.graph);
  const running = useBuilds((s) => s.run?.status === "running");
  const starting = useBuilds((s) => s.starting);
  const selected = useSelection((s) => s.selected);
  const keepFailed = useBuilds((s) => s.keepFailed);
  const keepGoing = useBuilds((s) => s.keepGoing);
  const [path, setPath] = useState(project);
  const [targetText, setTargetText] = useState(target);
  useEffect(() => setPath(project), [project]);
  useEffect(() => setTargetText(target), [target]);

  const args = moduleArgs(projectInfo);
  if (moduleArg && !args.includes(moduleArg)) args.unshift(moduleArg);
  const targets = targetChoices(info, backends);
  const docOf = (arg: string) => {
    const m = projectInfo?.modules.find((x) => arg.startsWith(`${x.module}:`));
    return m?.functions.find((f) => `${m.module}:${f.name}` === arg)?.doc || undefined;
  };
  useEffect(() => {
    document.title = projectInfo ? `${projectInfo.name} — Bramble Studio` : "Bramble Studio";
  }, [projectInfo]);

  return (
    <header className="toolbar" aria-label="Project and build">
      <h1 className="brand">
        <span className="logo" aria-hidden="true">
          ❦
        </span>{" "}
        Bramble Studio
      </h1>
      <form
        className="tb-group"
        onSubmit={(e) => {
          e.preventDefault();
          if (path.trim()) void useGraph.getState().openProject(path.trim());
        }}
      >
        <label htmlFor="project-path">Project</label>
        <input
          id="project-path"
          list="recent-projects"
          value={path}
          onChange={(e) => setPath(e.target.value)}
          placeholder="/path/to/project"
          spellCheck={false}
          size={22}
        />
        <datalist id="recent-projects">
          {recent.map((r) => (
            <option key={r} value={r} />
          ))}
        </datalist>
        <button type="submit">Open</button>
        {desktop.pickDirectory ? (
          <button
            type="button"
            onClick={async () => {
              const dir = await desktop.pickDirectory!();
              if (dir) void useGraph.getState().openProject(dir);
            }}
          >
            Browse…
          </button>
        ) : null}
      </form>
      <div className="tb-group">
        <label htmlFor="module-arg">Function</label>
        <select id="module-arg" value={moduleArg} onChange={(e) => void useGraph.getState().setModuleArg(e.target.value)}>
          {args.length === 0 && !moduleArg ? <option value="">(none)</option> : null}
          {moduleArg && !args.includes(moduleArg) ? <option value={moduleArg}>{moduleArg}</option> : null}
          {args.map((a) => (
            <option key={a} value={a} title={docOf(a)}>
              {a}
            </option>
          ))}
        </select>
      </div>
      <form
        className="tb-group"
        onSubmit={(e) => {
          e.preventDefault();
          void useGraph.getState().setTarget(targetText);
          useSelection.getState().setTab("retarget");
        }}
      >
        <label htmlFor="target-system">Target</label>
        <input
          id="target-system"
          list="target-systems"
          value={targetText}
          placeholder={info?.host ?? "host"}
          onChange={(e) => setTargetText(e.target.value)}
          onBlur={() => {
            if (targetText.trim() !== target) {
              void useGraph.getState().setTarget(targetText);
              useSelection.getState().setTab("retarget");
            }
          }}
          spellCheck={false}
          size={14}
        />
        <datalist id="target-systems">
          {targets.map((t) => (
            <option key={t} value={t}>
              {t === info?.host
                ? "host"
                : backends
                    .filter((b) => b.platforms.includes(t))
                    .map((b) => b.name)
                    .join(", ")}
            </option>
          ))}
        </datalist>
      </form>
      <div className="tb-group actions">
        <button
          className="primary"
          type="button"
          onClick={() => void startBuild()}
          disabled={!graph || running || starting}
          aria-keyshortcuts="Control+Enter"
          title="Build the whole graph (Ctrl+Enter)"
        >
          Build
        </button>
        <button
          type="button"
          onClick={() => selected && void startBuild({ only: [selected] })}
          disabled={!graph || !selected || running || starting}
          title="Build only the selected node"
        >
          Build selected
        </button>
        <button
          type="button"
          className="danger"
          onClick={() => void cancelBuild()}
          disabled={!running}
          title="Cancel the running build (Ctrl+.)"
          aria-keyshortcuts="Control+."
        >
          Cancel
        </button>
        <label className="check" title="Keep a failed build's directory for debugging (--keep-failed)">
          <input type="checkbox" checked={keepFailed} onChange={(e) => useBuilds.getState().setKeepFailed(e.target.checked)} /> Keep failed
        </label>
        <label className="check" title="Go on building what does not depend on a failure (--keep-going)">
          <input type="checkbox" checked={keepGoing} onChange={(e) => useBuilds.getState().setKeepGoing(e.target.checked)} /> Keep going
        </label>
      </div>
      <Progress />
    </header>
  );
}
