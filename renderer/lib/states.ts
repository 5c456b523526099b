// Node states and how a build event moves a node between them.
import type { BuildEvent, NodeState } from "../../core/api/schema";

export const NODE_STATES: readonly NodeState[] = ["not-built", "cached", "queued", "building", "built", "failed", "cancelled", "skipped"];

export const STATE_LABEL: Record<NodeState, string> = {
  "not-built": "not built",
  cached: "cached",
  queued: "queued",
  building: "building",
  built: "built",
  failed: "failed",
  cancelled: "cancelled",
  skipped: "skipped",
};

/** The state a node is in after `e`, or undefined when the event does not concern node state. */
export function stateAfter(e: BuildEvent): NodeState | undefined {
  switch (e.type) {
    case "planned":
      return "queued";
    case "cached":
      return "cached";
    case "started":
      return "building";
    case "built":
      return "built";
    case "failed":
      return "failed";
    case "cancelled":
      return "cancelled";
    case "skipped":
      return "skipped";
    default:
      return undefined;
  }
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s % 60)} s`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
