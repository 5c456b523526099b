// A collapsed module: one node standing for all the derivations its .bramble file made, with how
// many there are, how many are built or failed (live), and a button that expands it (as a click on
// the node does; zoomed out, the button gives its room to the name).
import { memo } from "react";
import { Handle, Position, type Node, type NodeProps } from "@xyflow/react";
import { useBuilds } from "../stores/builds";
import { useClusters } from "../stores/clusters";
import { useView } from "../stores/view";

type ClusterData = { module: string; members: string[] };
export type ClusterFlowNode = Node<ClusterData, "cluster">;

function ClusterNodeView({ data }: NodeProps<ClusterFlowNode>) {
  const { module, members } = data;
  const role = useView((s) => s.roles.get(`cluster:${module}`));
  // how many members a retarget changes, or the last edit of the project's files made anew
  const changed = useView((s) => (s.changed.size ? members.filter((h) => s.changed.has(h)).length : 0));
  const edited = useView((s) => (s.edited.size ? members.filter((h) => s.edited.has(h)).length : 0));
  // one string per state change of a member, so the node re-renders only when its summary does
  const summary = useBuilds((s) => {
    let built = 0;
    let failed = 0;
    let building = 0;
    for (const h of members) {
      const st = s.states[h];
      if (st === "built" || st === "cached") built++;
      else if (st === "failed") failed++;
      else if (st === "building") building++;
    }
    return [built ? `${built} built` : "", building ? `${building} building` : "", failed ? `${failed} failed` : ""].filter(Boolean).join(" · ");
  });
  return (
    <div
      className={`cluster${role ? ` role-${role}` : ""}${summary.includes("failed") ? " has-failed" : ""}${changed ? " changed" : ""}${edited ? " edited" : ""}`}
      data-testid={`cluster-${module}`}
      data-members={members.length}
      data-changed={changed || undefined}
      data-edited={edited || undefined}
      title={`module ${module}: ${members.length} derivations, collapsed (click to expand)`}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="cluster-head">
        <span className="cluster-name">{module}</span>
        <button type="button" className="small nodrag" aria-label={`Expand module ${module}`} onClick={() => useClusters.getState().expand(module)}>
          Expand
        </button>
      </div>
      <div className="cluster-info">
        {members.length} derivation{members.length === 1 ? "" : "s"}
        {summary ? ` · ${summary}` : ""}
        {changed ? ` · ${changed} change` : ""}
        {edited ? ` · ${edited} edited` : ""}
      </div>
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
}

export const ClusterNode = memo(ClusterNodeView);
