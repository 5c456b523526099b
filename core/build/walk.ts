// The graph walk: runs the nodes of a DAG, each once its dependencies have succeeded, at most
// `jobs` at a time, from a ready queue. A failure's dependents are skipped (they cannot run:
// something they need failed), whatever the mode. The first failure stops the walk (the
// running nodes are told to stop through their signal, and what never ran and does not need
// the failure is left to the caller as cancelled) unless `keepGoing`, in which case the rest
// goes on. Knows nothing of builds, stores or backends: the
// scheduler gives it a `run` per node (the realiser), and tests give it plain functions.

export type NodeStatus = "built" | "cached" | "failed" | "cancelled" | "skipped";

export interface WalkOptions {
  /** the nodes to run */
  nodes: Iterable<string>;
  /** a node's dependencies; those that are not among `nodes` are taken as done */
  deps: (node: string) => string[];
  /** how many nodes run at once (at least 1) */
  jobs: number;
  /** after a failure, go on with what does not depend on it */
  keepGoing?: boolean;
  /** aborting stops the walk: nothing new starts, running nodes see their signal abort */
  signal?: AbortSignal;
  /** run one node; `signal` aborts when the walk stops */
  run: (node: string, signal: AbortSignal) => Promise<NodeStatus>;
  /** a node that will not run because `failedDep` (a dependency, maybe indirect) failed */
  onSkipped?: (node: string, failedDep: string) => void;
  /** `run` threw (a bug, not a failure): the node counts as failed and the walk stops */
  onError?: (node: string, error: unknown) => void;
}

export interface WalkResult {
  /** each node that ran and how it ended, and each node skipped ("skipped") */
  status: Map<string, NodeStatus>;
  /** nodes whose own run failed or threw, in the order they did */
  failed: string[];
  /** nodes whose dependency failed, with that dependency (the first failure found to reach them) */
  skipped: Map<string, string>;
  /** nodes that never ran and need no failed node (the walk stopped first, or was cancelled) */
  notRun: string[];
}

export async function walkGraph(o: WalkOptions): Promise<WalkResult> {
  const nodes = new Set(o.nodes);
  const jobs = Math.max(1, o.jobs);
  const waiting = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const h of nodes) {
    let n = 0;
    for (const d of new Set(o.deps(h))) {
      if (!nodes.has(d) || d === h) continue;
      n++;
      let list = dependents.get(d);
      if (!list) dependents.set(d, (list = []));
      list.push(h);
    }
    waiting.set(h, n);
  }
  const ready = [...nodes].filter((h) => waiting.get(h) === 0);
  const status = new Map<string, NodeStatus>();
  const failed: string[] = [];
  const stopper = new AbortController();
  const onAbort = () => stopper.abort();
  if (o.signal?.aborted) stopper.abort();
  o.signal?.addEventListener("abort", onAbort, { once: true });

  const skipped = new Map<string, string>();
  const skipDependents = (h: string) => {
    const q = [...(dependents.get(h) ?? [])];
    while (q.length) {
      const d = q.pop()!;
      if (status.has(d)) continue;
      status.set(d, "skipped");
      skipped.set(d, h);
      o.onSkipped?.(d, h);
      q.push(...(dependents.get(d) ?? []));
    }
  };
  const stop = () => stopper.abort();

  try {
    await new Promise<void>((resolveAll) => {
      let active = 0;
      const pump = () => {
        while (!stopper.signal.aborted && ready.length && active < jobs) {
          const h = ready.shift()!;
          active++;
          let p: Promise<NodeStatus>;
          try {
            p = o.run(h, stopper.signal);
          } catch (e) {
            p = Promise.reject(e);
          }
          p.then(
            (r) => {
              active--;
              status.set(h, r);
              if (r === "built" || r === "cached") {
                for (const d of dependents.get(h) ?? []) {
                  const left = waiting.get(d)! - 1;
                  waiting.set(d, left);
                  if (left === 0) ready.push(d);
                }
              } else if (r === "failed") {
                failed.push(h);
                skipDependents(h);
                if (!o.keepGoing) stop();
              }
              pump();
            },
            (e: unknown) => {
              active--;
              status.set(h, "failed");
              failed.push(h);
              o.onError?.(h, e);
              skipDependents(h);
              stop();
              pump();
            },
          );
        }
        if (active === 0) resolveAll();
      };
      pump();
    });
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
  }
  return { status, failed, skipped, notRun: [...nodes].filter((h) => !status.has(h)) };
}
