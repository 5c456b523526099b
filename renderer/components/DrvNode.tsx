// One derivation in the graph: name, builder badge, system badge, cross-compile mark, state.
import { memo } from "react";
import { Handle, Position, type Node, type NodeProps } from "@xyflow/react";
import type { GraphNode } from "../../core/api/schema";
import { useBuilds } from "../stores/builds";
import { useView } from "../stores/view";
import { STATE_LABEL } from "../lib/states";

export type DrvNodeData = { node: GraphNode };
export type DrvFlowNode = Node<DrvNodeData, "drv">;

export function badgeKind(badge: string): string {
  const b = badge.split(":")[0]!;
  return ["local", "docker", "qemu", "ssh", "reapi", "fetch_url", "fetch_git", "derivation_output"].includes(b) ? b : "other";
}

function DrvNodeView({ data }: NodeProps<DrvFlowNode>) {
  const n = data.node;
  const state = useBuilds((s) => s.states[n.hash]) ?? n.state;
  const role = useView((s) => s.roles.get(n.hash));
  const changed = useView((s) => s.changed.has(n.hash));
  const edited = useView((s) => s.edited.has(n.hash));
  // the scheduler's: it did not run because a dependency failed
  const skipped = state === "skipped";
  const cross = n.platform !== n.system;
  const classes = ["drv", `state-${state}`, role ? `role-${role}` : "", changed ? "changed" : "", edited ? "edited" : "", n.backend ? "" : "unplannable"];
  return (
    <div
      className={classes.filter(Boolean).join(" ")}
      data-testid={`node-${n.name}`}
      data-hash={n.hash}
      data-state={state}
      data-changed={changed ? "true" : undefined}
      data-edited={edited ? "true" : undefined}
      data-skipped={skipped ? "true" : undefined}
      title={`${n.name}\n${n.hash}\nbuilder: ${n.builder}\nplatform: ${n.platform}\nsystem: ${n.system}${n.planError ? `\n${n.planError}` : ""}`}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="drv-head">
        <span className="drv-name">{n.name}</span>
        <span className={`drv-state state-chip-${state}`} data-testid="node-state">
          {state === "building" ? <span className="spinner" aria-hidden="true" /> : null}
          {STATE_LABEL[state]}
        </span>
      </div>
      <div className="drv-badges">
        {n.backend || n.badge !== "none" ? (
          <span
            className={`badge builder-${badgeKind(n.backendKind === "reapi" ? "reapi" : n.badge)}`}
            data-testid="builder-badge"
            title={`built by ${n.badge}${n.backendKind === "reapi" ? " (remote execution, REAPI)" : ""}`}
          >
            {n.badge}
          </span>
        ) : (
          <span className="badge noplan" data-testid="builder-badge" title={n.planError ?? "no backend can build this"}>
            no backend
          </span>
        )}
        <span className="badge system" data-testid="system-badge" title={`output for ${n.system}`}>
          {n.system}
        </span>
        {cross ? (
          <span className="badge cross" data-testid="cross-mark" title={`cross-compiled on ${n.platform} for ${n.system}`}>
            ⇄ {n.platform.split("-")[0]}
          </span>
        ) : null}
        {edited ? (
          <span className="badge edited" data-testid="edited-badge" title="changed by the last edit of the project's files">
            edited
          </span>
        ) : null}
        {n.hostPaths ? (
          <span className="badge impure" data-testid="impure-badge" title={`impure: sees the host paths ${n.hostPaths.join(", ")}`}>
            impure
          </span>
        ) : null}
      </div>
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
}

export const DrvNode = memo(DrvNodeView);
