// Search and filter the graph by name, system, backend and state.
import { useGraph } from "../stores/graph";
import { filtersActive, useSelection } from "../stores/selection";
import { useView } from "../stores/view";
import { NODE_STATES, STATE_LABEL } from "../lib/states";
import type { NodeState } from "../../core/api/schema";

export function FilterBar() {
  const graph = useGraph((s) => s.graph);
  const filters = useSelection((s) => s.filters);
  const setFilter = useSelection((s) => s.setFilter);
  const matches = useView((s) => s.matches);
  const systems = [...new Set(graph?.nodes.map((n) => n.system))].sort();
  const badges = [...new Set(graph?.nodes.map((n) => n.badge))].sort();
  const active = filtersActive(filters);
  return (
    <div className="filter-bar" role="search" aria-label="Filter nodes">
      <input
        id="node-search"
        type="search"
        aria-label="Search nodes by name"
        placeholder="Search nodes  ( / )"
        value={filters.text}
        onChange={(e) => setFilter("text", e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && graph) {
            const q = filters.text.toLowerCase();
            const hit = graph.nodes.find((n) => n.name.toLowerCase().includes(q));
            if (hit) useSelection.getState().select(hit.hash, { center: true });
          }
        }}
      />
      <select aria-label="Filter by system" value={filters.system} onChange={(e) => setFilter("system", e.target.value)}>
        <option value="">all systems</option>
        {systems.map((s) => (
          <option key={s}>{s}</option>
        ))}
      </select>
      <select aria-label="Filter by backend" value={filters.backend} onChange={(e) => setFilter("backend", e.target.value)}>
        <option value="">all builders</option>
        {badges.map((s) => (
          <option key={s}>{s}</option>
        ))}
      </select>
      <select aria-label="Filter by state" value={filters.state} onChange={(e) => setFilter("state", e.target.value as NodeState | "")}>
        <option value="">all states</option>
        {NODE_STATES.map((s) => (
          <option key={s} value={s}>
            {STATE_LABEL[s]}
          </option>
        ))}
      </select>
      {active ? (
        <>
          <span className="muted" aria-live="polite" data-testid="filter-count">
            {matches} of {graph?.nodes.length ?? 0}
          </span>
          <button type="button" className="small" onClick={() => useSelection.getState().clearFilters()}>
            Clear
          </button>
        </>
      ) : (
        <span className="muted">{graph ? `${graph.nodes.length} nodes · ${graph.target || graph.host}` : ""}</span>
      )}
    </div>
  );
}
