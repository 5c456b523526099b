// User actions that span stores: starting and cancelling builds, wiring the event stream.
import type { BuildEvent } from "../core/api/schema";
import { api, ServiceError } from "./api/client";
import { useBuilds } from "./stores/builds";
import { useGraph } from "./stores/graph";
import { useLogs } from "./stores/logs";
import { useToasts } from "./stores/toasts";

export async function startBuild(opts: { only?: string[]; keepFailed?: boolean } = {}): Promise<void> {
  const { project, moduleArg, target, info } = useGraph.getState();
  if (!project || !moduleArg) return;
  const t = target && target !== info?.host ? target : undefined;
  useBuilds.getState().setStarting(true);
  try {
    const started = await api.call("build.start", {
      project,
      moduleArg,
      ...(t ? { target: t } : {}),
      ...(opts.only ? { only: opts.only } : {}),
      keepFailed: opts.keepFailed ?? useBuilds.getState().keepFailed,
      keepGoing: useBuilds.getState().keepGoing,
    });
    // Every build is a run with a URL: ?run=ID opens its run view, after a reload or a restart too.
    if (started.runId) {
      const url = new URL(location.href);
      url.searchParams.set("run", started.runId);
      history.replaceState(null, "", url.href);
    }
  } catch (e) {
    useBuilds.getState().setStarting(false);
    useToasts.getState().push(`Build could not start: ${e instanceof ServiceError || e instanceof Error ? e.message : String(e)}`);
  }
}

export async function cancelBuild(): Promise<void> {
  const run = useBuilds.getState().run;
  if (!run || run.status !== "running") return;
  try {
    await api.call("build.cancel", { runId: run.runId });
  } catch (e) {
    useToasts.getState().push(`Cancel failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Feed the service's events into the stores; returns the unsubscribe. */
export function connectEvents(): () => void {
  let queue: BuildEvent[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const batch = queue;
    queue = [];
    useBuilds.getState().applyMany(batch);
    if (batch.some((e) => e.type === "run-finished")) {
      // The store now holds what was built: refresh the node states and panel.
      setTimeout(() => void refreshAfterRun(), 50);
    }
  };
  return api.onEvent((e) => {
    const logs = useLogs.getState();
    if (e.type === "log") {
      logs.append(e.hash, e.line);
      return;
    }
    // An edit: the service re-evaluates and sends the new graphs (graph-updated); nothing to ask.
    if (e.type === "sources-changed") return;
    if (e.type === "graph-updated") {
      void useGraph.getState().graphUpdated(e);
      return;
    }
    if (e.type === "started") logs.resetNode(e.hash);
    if (e.type === "failed" && e.error && !e.logTail.length) logs.append(e.hash, e.error);
    queue.push(e);
    if (!scheduled) {
      scheduled = true;
      setTimeout(flush, 0);
    }
  });
}

let refreshHooks: (() => void)[] = [];
export function onRunFinished(f: () => void): () => void {
  refreshHooks.push(f);
  return () => {
    refreshHooks = refreshHooks.filter((x) => x !== f);
  };
}
async function refreshAfterRun() {
  for (const f of refreshHooks) f();
}
