// The project being looked at and the graph its chosen function evaluates to.
import { create } from "zustand";
import type { AppInfo, BackendInfo, EvalErrorInfo, Graph, GraphDiff, GraphUpdatedEvent, ProjectInfo } from "../../core/api/schema";
import { api, ServiceError } from "../api/client";
import { useSelection } from "./selection";
import { useView } from "./view";
import { useBuilds } from "./builds";

export interface GraphStore {
  info: AppInfo | null;
  project: string;
  projectInfo: ProjectInfo | null;
  recent: string[];
  moduleArg: string;
  /** the system the graph is evaluated for; "" means the host */
  target: string;
  backends: BackendInfo[];
  graph: Graph | null;
  /** set while a retarget preview is shown: `graph` is then diff.to */
  diff: GraphDiff | null;
  loading: boolean;
  error: string | null;
  evalError: EvalErrorInfo | null;
  /** bumps on every new graph so views can re-layout */
  version: number;
  /** the evalId of the evaluation running now, which cancelEvaluation() stops */
  evaluating: string | null;
  /** the last edit of the project's files the graph was re-evaluated for */
  lastEdit: { files: string[]; changed: number; at: number } | null;
  /** set while the graph shown is an old derivation's from the history (graph.derivation), not the function's */
  historic: { hash: string; name: string } | null;

  init(): Promise<void>;
  openProject(path: string): Promise<void>;
  setModuleArg(moduleArg: string): Promise<void>;
  setTarget(target: string): Promise<void>;
  evaluate(): Promise<void>;
  cancelEvaluation(): Promise<void>;
  /** show an old derivation (from the history) and what it needs, from the service's records */
  openDerivation(hash: string): Promise<void>;
  /** the service re-evaluated after an edit of the project: show it, keeping function, target and selection */
  graphUpdated(e: GraphUpdatedEvent): Promise<void>;
}

function describe(e: unknown): { error: string; evalError: EvalErrorInfo | null } {
  if (e instanceof ServiceError) return { error: e.message, evalError: e.evalError ?? null };
  return { error: e instanceof Error ? e.message : String(e), evalError: null };
}

/** The module arguments a project offers, as `bramble ls` lists them: `<module>:<function>`. */
export function moduleArgs(p: ProjectInfo | null): string[] {
  if (!p) return [];
  return p.modules.flatMap((m) => m.functions.map((f) => `${m.module}:${f.name}`));
}

/**
 * The function to show first: `default` of the module the host named, else a `default`
 * with no parameters in any module (the project's top module first), else the host's choice,
 * else the first function without parameters.
 */
export function preferredModuleArg(p: ProjectInfo, hostChoice: string | null): string | null {
  const moduleOf = (a: string) => a.slice(0, a.lastIndexOf(":"));
  const noParams = p.modules.flatMap((m) => m.functions.filter((f) => f.params.length === 0).map((f) => `${m.module}:${f.name}`));
  if (hostChoice?.endsWith(":default")) return hostChoice;
  if (hostChoice && noParams.includes(`${moduleOf(hostChoice)}:default`)) return `${moduleOf(hostChoice)}:default`;
  const defaults = noParams.filter((a) => a.endsWith(":default"));
  const top = defaults.find((a) => [".", "./"].includes(moduleOf(a)));
  return top ?? defaults[0] ?? hostChoice ?? noParams[0] ?? moduleArgs(p)[0] ?? null;
}

let evalSeq = 0;

/** Keep the function and target in the page's URL, so a reload (or a restarted service) shows the same graph. */
function rememberInUrl(moduleArg: string, target: string): void {
  const url = new URL(location.href);
  url.searchParams.set("fn", moduleArg);
  if (target) url.searchParams.set("target", target);
  else url.searchParams.delete("target");
  if (url.href !== location.href) history.replaceState(null, "", url.href);
}

/** Take over the newest run of this project the service knows: still going, or how it ended. */
async function reattach(project: string): Promise<void> {
  try {
    const runs = await api.call("build.runs", {});
    const builds = useBuilds.getState();
    const cur = builds.run;
    const known = cur ? runs.find((r) => r.runId === cur.runId) : undefined;
    if (cur && (!known || (cur.status === "running" && known.status !== "running"))) {
      // A restarted service: the run this page followed ended with it (the service records it
      // as interrupted). The graph's states now come from the history; drop the live ones.
      useBuilds.setState({
        states: {},
        run: cur.status === "running" ? { ...cur, status: "interrupted", running: new Set(), endedAt: Date.now() } : cur,
        starting: false,
      });
    }
    const mine = known ?? runs.find((r) => r.project === project && r.status === "running") ?? (cur ? undefined : runs.find((r) => r.project === project));
    if (mine) builds.attach(mine);
    if (mine?.external && mine.status === "running") followExternal(mine.runId);
  } catch {
    /* an older service: nothing to reattach to */
  }
}

/**
 * A run another process is doing (a `bramble build` in a terminal, recorded in the database)
 * sends this page no events: ask for it again every second and a half until it ends, while
 * the page still follows it.
 */
function followExternal(runId: string): void {
  const poll = async () => {
    if (useBuilds.getState().run?.runId !== runId) return;
    const r = await api.call("build.run", { runId }).catch(() => null);
    if (!r || useBuilds.getState().run?.runId !== runId) return;
    useBuilds.getState().attach(r);
    if (r.status === "running") setTimeout(() => void poll(), 1500);
  };
  setTimeout(() => void poll(), 1500);
}

/** With no function to show, a module that does not parse says why (else the list is just empty). */
function showModuleError(get: () => GraphStore, set: (p: Partial<GraphStore>) => void): void {
  const bad = get().projectInfo?.modules.find((m) => m.error);
  if (bad?.error) set({ error: bad.error.message, evalError: bad.error, graph: null });
}

/** A new evalId; the evaluation it names stops when a newer one starts or the user cancels. */
function nextEvalId(get: () => GraphStore, set: (p: Partial<GraphStore>) => void): string {
  const previous = get().evaluating;
  if (previous) void api.call("evaluation.cancel", { evalId: previous }).catch(() => {});
  const evalId = `e${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  set({ evaluating: evalId });
  return evalId;
}

export const useGraph = create<GraphStore>((set, get) => ({
  info: null,
  project: "",
  projectInfo: null,
  recent: [],
  moduleArg: "",
  target: "",
  backends: [],
  graph: null,
  diff: null,
  loading: false,
  error: null,
  evalError: null,
  version: 0,
  evaluating: null,
  lastEdit: null,
  historic: null,

  async openDerivation(hash) {
    const seq = ++evalSeq;
    set({ loading: true, error: null, evalError: null });
    try {
      const graph = await api.call("graph.derivation", { hash });
      if (seq !== evalSeq) return;
      const name = graph.nodes.find((n) => n.hash === hash)?.name ?? hash;
      useView.getState().setEdited(new Set());
      set((s) => ({ graph, diff: null, historic: { hash, name }, lastEdit: null, loading: false, evaluating: null, version: s.version + 1 }));
      useSelection.getState().select(hash, { center: true });
    } catch (e) {
      if (seq !== evalSeq) return;
      set({ loading: false, ...describe(e) });
    }
  },

  async graphUpdated(e) {
    const { project, graph: before, diff, target, info } = get();
    if (!project || e.project !== project) return;
    // The function list may have changed (or a module stopped parsing).
    const projectInfo = get().projectInfo ? { ...get().projectInfo!, modules: e.modules } : null;
    if (projectInfo) set({ projectInfo });
    let moduleArg = get().moduleArg;
    if (!moduleArg && projectInfo) {
      // Nothing was shown (the root module did not parse): take the function the service re-evaluated, else pick one.
      moduleArg =
        e.moduleArg && moduleArgs(projectInfo).includes(e.moduleArg) ? e.moduleArg : (preferredModuleArg(projectInfo, info?.defaultModuleArg ?? null) ?? "");
      set({ moduleArg });
      if (moduleArg && moduleArg !== e.moduleArg) {
        await get().evaluate();
        return;
      }
    }
    if (!moduleArg) {
      showModuleError(get, set);
      return;
    }
    // Only the graph this page shows: its function, its target, preview or not.
    const shownTarget = target && target !== info?.host ? target : "";
    if (e.moduleArg !== moduleArg || (e.target ?? "") !== shownTarget) return;
    if (e.error) {
      ++evalSeq; // an evaluation this page started before the edit is out of date
      set({ loading: false, evaluating: null, ...describe(new ServiceError(e.error)) });
      return;
    }
    if (!e.graph || !!e.diff !== !!(diff && shownTarget) || get().historic) return;
    ++evalSeq;
    const after = e.graph;
    set((s) => ({ graph: after, diff: e.diff ?? null, loading: false, evaluating: null, error: null, evalError: null, version: s.version + 1 }));
    const edited = e.changed ?? [];
    useView.getState().setEdited(new Set(edited));
    set({ lastEdit: { files: e.files, changed: edited.length, at: Date.now() } });
    // Keep the selection: the node of the same name in the new graph.
    const sel = useSelection.getState().selected;
    if (sel && !after.nodes.some((n) => n.hash === sel)) {
      const name = before?.nodes.find((n) => n.hash === sel)?.name;
      const same = after.nodes.filter((n) => n.name === name);
      useSelection.getState().select(same.length === 1 ? same[0]!.hash : null);
    }
  },

  async cancelEvaluation() {
    const evalId = get().evaluating;
    if (!evalId) return;
    await api.call("evaluation.cancel", { evalId }).catch(() => {});
  },

  async init() {
    set({ loading: true });
    try {
      const info = await api.call("app.info", {});
      // Again after a reconnect: the function shown stays (the URL's), never flashing the default.
      const urlFn = new URLSearchParams(location.search).get("fn");
      set({ info, project: info.defaultProject ?? "", moduleArg: get().moduleArg || urlFn || info.defaultModuleArg || "" });
      void api.call("backends.list", {}).then(
        (backends) => set({ backends }),
        () => {},
      );
      void api.call("project.recent", {}).then(
        (recent) => set({ recent }),
        () => {},
      );
      if (info.defaultProject) {
        try {
          const projectInfo = await api.call("project.open", { path: info.defaultProject });
          set({
            projectInfo,
            moduleArg: urlFn && moduleArgs(projectInfo).includes(urlFn) ? urlFn : (preferredModuleArg(projectInfo, info.defaultModuleArg) ?? ""),
          });
        } catch (e) {
          // Still try the module argument the host named; the evaluation reports what is wrong.
          console.warn("project.open failed", e);
        }
      }
      // The function and target the page showed before a reload (kept in its URL).
      const url = new URLSearchParams(location.search);
      const fn = url.get("fn");
      if (fn && (!get().projectInfo || moduleArgs(get().projectInfo).includes(fn))) set({ moduleArg: fn });
      if (url.get("target")) set({ target: url.get("target")! });
      if (get().project && get().moduleArg) await get().evaluate();
      else {
        set({ loading: false });
        showModuleError(get, set);
      }
      await reattach(get().project);
    } catch (e) {
      set({ loading: false, ...describe(e) });
    }
  },

  async openProject(path) {
    set({ loading: true, error: null, evalError: null });
    try {
      const projectInfo = await api.call("project.open", { path });
      const first = preferredModuleArg(projectInfo, null) ?? "";
      set({ project: projectInfo.root || path, projectInfo, moduleArg: first, diff: null, graph: null });
      void api.call("project.recent", {}).then(
        (recent) => set({ recent }),
        () => {},
      );
      if (first) await get().evaluate();
      else {
        set({ loading: false });
        showModuleError(get, set);
      }
    } catch (e) {
      set({ loading: false, ...describe(e) });
    }
  },

  async setModuleArg(moduleArg) {
    set({ moduleArg, diff: null, lastEdit: null });
    useView.getState().setEdited(new Set());
    await get().evaluate();
  },

  async setTarget(target) {
    target = target.trim();
    set({ target });
    const { project, moduleArg, info } = get();
    if (!project || !moduleArg) return;
    if (!target || target === info?.host) {
      set({ diff: null });
      await get().evaluate();
      return;
    }
    const seq = ++evalSeq;
    const evalId = nextEvalId(get, set);
    set({ loading: true, error: null, evalError: null });
    try {
      const diff = await api.call("graph.diff", { project, moduleArg, target, evalId });
      if (seq !== evalSeq) return;
      set((s) => ({ diff, graph: diff.to, historic: null, loading: false, evaluating: null, version: s.version + 1 }));
    } catch (e) {
      if (seq !== evalSeq) return;
      set({ loading: false, evaluating: null, diff: null, ...describe(e) });
    }
  },

  async evaluate() {
    const { project, moduleArg, target, info } = get();
    if (!project || !moduleArg) return;
    const seq = ++evalSeq;
    const evalId = nextEvalId(get, set);
    set({ loading: true, error: null, evalError: null });
    try {
      const t = target && target !== info?.host ? target : undefined;
      performance.mark("bramble:evaluate-start");
      const graph = await api.call("graph.evaluate", { project, moduleArg, evalId, ...(t ? { target: t } : {}) });
      performance.mark("bramble:graph-received");
      if (seq !== evalSeq) return;
      rememberInUrl(moduleArg, t ?? "");
      set((s) => ({ graph, historic: null, loading: false, evaluating: null, version: s.version + 1 }));
    } catch (e) {
      if (seq !== evalSeq) return;
      set({ loading: false, evaluating: null, ...describe(e) });
    }
  },
}));

/** The systems offered for retargeting: the host, then every platform a backend offers. */
export function targetChoices(info: AppInfo | null, backends: BackendInfo[]): string[] {
  const out = new Set<string>();
  if (info?.host) out.add(info.host);
  for (const b of backends) for (const p of b.platforms) out.add(p);
  return [...out];
}
