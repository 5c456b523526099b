// The page: toolbar on top; graph (with filters) beside the side panel; logs below.
import { useEffect, useState } from "react";
import { api, desktop, type ConnectionState } from "./api/client";
import { cancelBuild, connectEvents, startBuild } from "./actions";
import { useGraph } from "./stores/graph";
import { useSelection, type PanelTab } from "./stores/selection";
import { useToasts } from "./stores/toasts";
import { useBuilds } from "./stores/builds";
import { indexGraph } from "./lib/graphIndex";
import { Toolbar } from "./components/Toolbar";
import { GraphView } from "./components/GraphView";
import { FilterBar } from "./components/FilterBar";
import { LogPanel } from "./components/LogPanel";
import { NodePanel } from "./components/NodePanel";
import { RetargetPanel } from "./components/RetargetPanel";
import { HistoryPanel } from "./components/HistoryPanel";
import { RunView, runParam } from "./components/RunView";
import { EvalErrorView } from "./components/EvalErrorView";

const TABS: { id: PanelTab; label: string }[] = [
  { id: "node", label: "Node" },
  { id: "run", label: "Run" },
  { id: "retarget", label: "Retarget" },
  { id: "history", label: "History" },
];

function SidePanel() {
  const tab = useSelection((s) => s.tab);
  const setTab = useSelection((s) => s.setTab);
  return (
    <aside className="side-panel" aria-label="Details">
      <div role="tablist" aria-label="Panels" className="tabs">
        {TABS.map((t, i) => (
          <button
            key={t.id}
            role="tab"
            id={`tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`tabpanel-${t.id}`}
            tabIndex={tab === t.id ? 0 : -1}
            onClick={() => setTab(t.id)}
            onKeyDown={(e) => {
              if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
                const next = TABS[(i + (e.key === "ArrowRight" ? 1 : TABS.length - 1)) % TABS.length]!;
                setTab(next.id);
                document.getElementById(`tab-${next.id}`)?.focus();
              }
            }}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`tabpanel-${tab}`} aria-labelledby={`tab-${tab}`} className="tab-body" tabIndex={0}>
        {tab === "node" ? <NodePanel /> : tab === "run" ? <RunView /> : tab === "retarget" ? <RetargetPanel /> : <HistoryPanel />}
      </div>
    </aside>
  );
}

/** After an edit was picked up: which files, and how many nodes changed (outlined in the graph). */
function EditNotice() {
  const edit = useGraph((s) => s.lastEdit);
  const error = useGraph((s) => s.error);
  if (!edit || error) return null;
  const names = edit.files.map((f) => f.split("/").pop()).join(", ");
  return (
    <div className="edit-notice" role="status" data-testid="edit-notice">
      Re-evaluated after an edit of {names}: {edit.changed === 1 ? "1 node changed" : `${edit.changed} nodes changed`} (outlined).
    </div>
  );
}

/** The graph shown is an old derivation's, from the history: say so, and the way back. */
function HistoricNotice() {
  const historic = useGraph((s) => s.historic);
  const moduleArg = useGraph((s) => s.moduleArg);
  if (!historic) return null;
  return (
    <div className="edit-notice historic-notice" role="status" data-testid="historic-notice">
      Showing {historic.name} ({historic.hash.slice(0, 8)}) from the build history and what it needs, as recorded; the current evaluation does not have it.{" "}
      <button type="button" className="small" onClick={() => void useGraph.getState().evaluate()}>
        Back to {moduleArg || "the project"}
      </button>
    </div>
  );
}

function Toasts() {
  const toasts = useToasts((s) => s.toasts);
  return (
    <div className="toasts" aria-live="assertive">
      {toasts.map((t) => (
        <div key={t.id} className="toast" role="alert">
          {t.text}
          <button type="button" className="small" aria-label="Dismiss" onClick={() => useToasts.getState().dismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

function useShortcuts() {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const el = e.target as HTMLElement | null;
      const typing = !!el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT");
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
        e.preventDefault();
        if (useBuilds.getState().run?.status !== "running") void startBuild();
      } else if ((e.ctrlKey || e.metaKey) && e.key === ".") {
        e.preventDefault();
        void cancelBuild();
      } else if (!typing && e.key === "/") {
        e.preventDefault();
        document.getElementById("node-search")?.focus();
      } else if (!typing && e.key === "Escape") {
        useSelection.getState().select(null);
      } else if (!typing && e.altKey && (e.key === "ArrowLeft" || e.key === "ArrowRight")) {
        // Walk the graph: Alt+← to a dependency, Alt+→ to a dependent.
        const { graph } = useGraph.getState();
        const { selected, select } = useSelection.getState();
        if (!graph) return;
        e.preventDefault();
        const ix = indexGraph(graph);
        const next = selected ? (e.key === "ArrowLeft" ? ix.deps : ix.dependents).get(selected)?.[0] : graph.roots[0];
        if (next) select(next, { center: true });
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}

export function App() {
  const [conn, setConn] = useState<ConnectionState>("connecting");
  useShortcuts();
  useEffect(() => {
    const off = connectEvents();
    let lost = false;
    const offConn = api.onConnection((s) => {
      // After a lost connection (closed, then connecting again), start over once it opens: the
      // service may have restarted, and the run this page followed may have ended with it.
      if (s === "closed") lost = true;
      if (s === "open" && lost) {
        lost = false;
        void useGraph.getState().init();
      }
      setConn(s);
    });
    void useGraph.getState().init();
    // ?run=ID opens that run's view
    if (runParam()) useSelection.getState().setTab("run");
    const offMenu = desktop.onMenu((m) => {
      if (m.action === "open-project") void useGraph.getState().openProject(m.path);
    });
    return () => {
      offMenu();
      off();
      offConn();
    };
  }, []);
  return (
    <div className="app" data-connection={conn}>
      <Toolbar />
      {conn === "closed" ? (
        <div className="banner" role="alert">
          Lost the connection to the service; retrying…
        </div>
      ) : null}
      {conn === "forbidden" ? (
        <div className="banner" role="alert" data-testid="stale-token">
          The service no longer accepts this page's token: it was restarted. Open the new URL that <code>bramble serve</code> printed.
        </div>
      ) : null}
      <EvalErrorView />
      <EditNotice />
      <HistoricNotice />
      <main className="main">
        <div className="graph-column">
          <FilterBar />
          <GraphView />
        </div>
        <SidePanel />
      </main>
      <LogPanel />
      <Toasts />
    </div>
  );
}
